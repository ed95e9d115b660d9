package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/retry"
)

// FuzzConfig: any Config gives a working policy or a *config.Error naming a
// field, never a panic; every delay it draws is in [0, MaxDelay].
func FuzzConfig(f *testing.F) {
	f.Add(int64(0), int64(0), int64(0), 0.0, int64(0), int64(0), 0.0, 0.5, int64(0))
	f.Add(int64(10), int64(time.Minute), int64(time.Millisecond), 1.5, int64(time.Second), int64(2), 0.0, 0.99, int64(0))
	f.Add(int64(3), int64(1<<62), int64(1<<61), 1000.0, int64(1<<63-1), int64(4), 0.0, 1.0, int64(0))
	f.Add(int64(-1), int64(time.Hour), int64(time.Second), 0.0, int64(time.Minute), int64(5), 0.0, 0.3, int64(0))
	f.Add(int64(0), int64(0), int64(time.Second), 0.0, int64(0), int64(0), 0.0, 0.0, int64(1<<63-1))
	f.Fuzz(func(t *testing.T, attempts, maxElapsed, delay int64, mult float64, maxDelay, jitter int64, factor, draw float64, jitterDur int64) {
		clk := clocktest.NewFake(time.Time{})
		cfg := retry.Config{
			MaxAttempts: int(attempts), MaxElapsed: time.Duration(maxElapsed), Delay: time.Duration(delay),
			Multiplier: mult, MaxDelay: time.Duration(maxDelay), Jitter: retry.Jitter(jitter), JitterFactor: factor,
			JitterDuration: time.Duration(jitterDur), Rand: func() float64 { return draw }, Clock: clk,
		}
		p, err := retry.New(cfg)
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Field == "" || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("New(%+v) = %v: want a *config.Error naming a field", cfg, err)
			}
			return
		}
		limit := time.Duration(maxDelay)
		var prev time.Duration
		for n := 1; n <= 70; n++ {
			d := p.Delay(n, prev)
			if d < 0 || (limit > 0 && d > limit) {
				t.Fatalf("delay of retry %d = %v, MaxDelay %v", n, d, limit)
			}
			prev = d
		}
		calls := 0
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = p.Do(ctx, func(context.Context) error {
				if calls++; calls >= 5 {
					cancel()
				}
				return errors.New("x")
			})
		}()
		clk.Drive(func() { <-done })
	})
}
