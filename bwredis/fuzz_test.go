package bwredis

import (
	"errors"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/config"
	"github.com/redis/go-redis/v9"
)

// FuzzConfig: any Config is checked into a usable one or an error naming
// the field, never a panic; checking talks to no one.
func FuzzConfig(f *testing.F) {
	f.Add(int64(0), int64(0), int64(0), int64(0), 0, 0.0, 0, int64(0), int64(0), int64(0), "")
	f.Add(int64(time.Second), int64(time.Second), int64(time.Minute), int64(time.Hour), 60, 0.5, 10, int64(time.Minute), int64(time.Second), int64(time.Hour), "svc")
	f.Add(int64(-1), int64(1<<63-1), int64(1<<63-1), int64(1), 1<<62, 2.0, -1, int64(1), int64(1), int64(1), "{x}")
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled here
	defer client.Close()
	f.Fuzz(func(t *testing.T, timeout, flush, window, _ int64, buckets int, rate float64, minCalls int, lease, ttl, _ int64, prefix string) {
		cfg, err := Config{
			Client: client, Prefix: prefix, Timeout: time.Duration(timeout), FlushInterval: time.Duration(flush),
			Window: time.Duration(window), WindowBuckets: buckets, FailureRate: rate, MinCalls: minCalls,
			ProbeLease: time.Duration(lease), KeyTTL: time.Duration(ttl),
		}.checked()
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Field == "" || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("want a *config.Error naming a field, got %v", err)
			}
			return
		}
		if cfg.WindowBuckets < 1 || cfg.WindowBuckets > 1000 || cfg.Window/time.Duration(cfg.WindowBuckets) < time.Millisecond ||
			cfg.Timeout <= 0 || cfg.FlushInterval <= 0 || cfg.KeyTTL <= 0 || !(cfg.FailureRate > 0 && cfg.FailureRate <= 1) {
			t.Fatalf("checked config out of range: %+v", cfg)
		}
	})
}
