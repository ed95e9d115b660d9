package bwprom_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/watch"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/bwprom"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/throttle"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Load-shedding policies, through a Shedding's registries and alone, are
// scraped from a real server with their kind and name.
func TestLimiterMetrics(t *testing.T) {
	list := new(watch.List)
	c := bwprom.NewCollector(list)
	bulkheads, _ := bulkhead.NewRegistry(bulkhead.RegistryConfig{Defaults: bulkhead.Config{MaxConcurrent: 1}})
	throttles, _ := throttle.NewRegistry(throttle.RegistryConfig{Defaults: throttle.Config{Rand: func() float64 { return 0.99 }}})
	list.AddShedding(breakwater.Shedding{Bulkheads: bulkheads, Throttles: throttles})
	rate, _ := ratelimit.New(ratelimit.Config{Name: "r", Rate: 1, Burst: 1, Clock: clocktest.NewFake(time.Unix(0, 0))})
	list.AddRateLimiter(rate)
	limit, _ := adaptive.New(adaptive.Config{Name: "a", InitialLimit: 9})
	list.AddAdaptive(limit)
	list.AddReporter(reported{{Kind: watch.KindRateLimit, Name: "fleet", Admitted: 3, Tokens: 2, Mode: watch.ModeLocal}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()

	ctx := context.Background()
	b := bulkheads.Get("api.example")
	slot, _ := b.Allow(ctx)
	defer slot.Done(nil)
	_, _ = b.Allow(ctx) // full
	th := throttles.Get("api.example")
	for range 5 {
		_ = th.Do(ctx, func(context.Context) error { return errors.New("429") })
	}
	rate.Allow()
	rate.Allow() // empty

	f := scrape(t, srv.URL)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"breakwater_limiter_calls_total", map[string]string{"kind": "bulkhead", "name": "api.example", "outcome": "admitted"}, 1},
		{"breakwater_limiter_calls_total", map[string]string{"kind": "bulkhead", "name": "api.example", "outcome": "rejected"}, 1},
		{"breakwater_limiter_in_flight", map[string]string{"kind": "bulkhead", "name": "api.example"}, 1},
		{"breakwater_limiter_limit", map[string]string{"kind": "bulkhead", "name": "api.example"}, 1},
		{"breakwater_limiter_queued", map[string]string{"kind": "bulkhead", "name": "api.example"}, 0},
		{"breakwater_limiter_calls_total", map[string]string{"kind": "ratelimit", "name": "r", "outcome": "rejected"}, 1},
		{"breakwater_limiter_tokens", map[string]string{"kind": "ratelimit", "name": "r"}, 0},
		{"breakwater_limiter_limit", map[string]string{"kind": "adaptive", "name": "a"}, 9},
		{"breakwater_limiter_refusal_probability", map[string]string{"kind": "throttle", "name": "api.example"}, 5.0 / 6},
		{"breakwater_limiter_calls_total", map[string]string{"kind": "ratelimit", "name": "fleet", "outcome": "admitted"}, 3},
		{"breakwater_limiter_mode", map[string]string{"kind": "ratelimit", "name": "fleet", "mode": "local"}, 1},
		{"breakwater_limiter_mode", map[string]string{"kind": "ratelimit", "name": "fleet", "mode": "shared"}, 0},
		{"breakwater_limiter_mode", map[string]string{"kind": "ratelimit", "name": "fleet", "mode": "closed"}, 0},
	}
	for _, c := range checks {
		if got := value(t, f, c.name, c.labels); got < c.want-0.01 || got > c.want+0.01 {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// reported is a policy of another package that reports itself, as
// bwredis's shared rate limit does.
type reported []watch.Limiter

func (r reported) Report() []watch.Limiter { return r }
