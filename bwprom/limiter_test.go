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
	"github.com/breakwater-go/breakwater/admission"
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
	bulkheads, _ := bulkhead.NewRegistry(bulkhead.Config{MaxConcurrent: 1}, 0)
	throttles, _ := throttle.NewRegistry(throttle.Config{Rand: func() float64 { return 0.99 }}, 0)
	list.Add(breakwater.Shedding{Bulkheads: bulkheads, Throttles: throttles})
	rate, _ := ratelimit.New(ratelimit.Config{Name: "r", Rate: 1, Burst: 1, Clock: clocktest.NewFake(time.Unix(0, 0))})
	list.Add(rate)
	limit, _ := adaptive.New(adaptive.Config{Name: "a", InitialLimit: 9})
	list.Add(limit)
	list.Add(reported{{Kind: watch.KindRateLimit, Name: "fleet", Admitted: 3, Tokens: 2, Mode: watch.ModeLocal}})
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

// An admission controller is scraped with its admissions by priority and
// its sheds by priority and reason.
func TestAdmissionMetrics(t *testing.T) {
	list := new(watch.List)
	ac, err := admission.New(admission.Config{Name: "api", Limit: admission.LimitConfig{Min: 1, Max: 1}})
	if err != nil {
		t.Fatal(err)
	}
	list.Add(ac)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(bwprom.NewCollector(list))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()

	p, err := ac.Admit(context.Background(), admission.Critical)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Done(nil)
	past, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	_, _ = ac.Admit(past, admission.Sheddable)

	f := scrape(t, srv.URL)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"breakwater_admission_admitted_total", map[string]string{"name": "api", "priority": "critical"}, 1},
		{"breakwater_admission_shed_total", map[string]string{"name": "api", "priority": "sheddable", "reason": "deadline"}, 1},
		{"breakwater_admission_limit", map[string]string{"name": "api"}, 1},
		{"breakwater_admission_in_flight", map[string]string{"name": "api"}, 1},
		{"breakwater_admission_standing", map[string]string{"name": "api"}, 0},
	} {
		if got := value(t, f, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}
