package watch_test

import (
	"context"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/throttle"
	"github.com/breakwater-go/breakwater/watch"
)

// Load-shedding policies are reported per kind and name: registries with
// the keys made later, policies that share a name folded, a policy added
// twice counted once.
func TestLimiters(t *testing.T) {
	var l watch.List
	bulkheads, _ := bulkhead.NewRegistry(bulkhead.Config{MaxConcurrent: 1}, 0)
	rates, _ := ratelimit.NewRegistry(ratelimit.Config{Rate: 10, Burst: 5, Clock: clocktest.NewFake(time.Unix(0, 0))}, 0)
	throttles, _ := throttle.NewRegistry(throttle.Config{}, 0)
	limits, _ := adaptive.NewRegistry(adaptive.Config{}, 0)
	l.Add(breakwater.Shedding{Bulkheads: bulkheads, RateLimits: rates, Throttles: throttles, Adaptive: limits})

	ctx := context.Background()
	api := bulkheads.Get("api")
	l.Add(api) // also in the registry: counted once
	same, _ := bulkhead.New(bulkhead.Config{Name: "api", MaxConcurrent: 3})
	l.Add(same)
	slot, _ := api.Allow(ctx)
	_, _ = api.Allow(ctx) // full
	rates.Get("api").Allow()
	_ = throttles.Get("x\xffy").Do(ctx, func(context.Context) error { return nil })
	limits.Get("api")
	standalone, _ := adaptive.New(adaptive.Config{Name: "solo", InitialLimit: 7})
	l.Add(standalone)

	got := l.Report().Limiters
	want := []watch.Limiter{
		{Kind: "adaptive", Name: "api", Limit: 20},
		{Kind: "adaptive", Name: "solo", Limit: 7},
		{Kind: "bulkhead", Name: "api", Admitted: 1, Rejected: 1, InFlight: 1, Limit: 4},
		{Kind: "ratelimit", Name: "api", Admitted: 1, Tokens: 4},
		{Kind: "throttle", Name: "x\uFFFDy", Admitted: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	slot.Done(nil)
}

// A load-shedding policy a registry evicts keeps its counts in its name's
// sums while the name has others: counters never go down.
func TestLimiterCountersSurviveEviction(t *testing.T) {
	a, _ := bulkhead.NewRegistry(bulkhead.Config{}, 1)
	b, _ := bulkhead.NewRegistry(bulkhead.Config{}, 1)
	var l watch.List
	l.Add(breakwater.Shedding{Bulkheads: a})
	l.Add(breakwater.Shedding{Bulkheads: b})
	ok := func(context.Context) error { return nil }
	for range 3 {
		a.Get("db").Do(context.Background(), ok)
	}
	b.Get("db").Do(context.Background(), ok)
	admitted := func() uint64 {
		for _, m := range l.Report().Limiters {
			if m.Name == "db" {
				return m.Admitted
			}
		}
		return 0
	}
	if got := admitted(); got != 4 {
		t.Fatalf("%d admitted, want 4", got)
	}
	a.Get("other")
	if got := admitted(); got != 4 {
		t.Fatalf("%d admitted after an eviction, want still 4", got)
	}
}

// A policy of another package reports itself; one that has lost its
// shared state says so in the name's row.
func TestReporters(t *testing.T) {
	var l watch.List
	l.Add(reported{{Kind: watch.KindRateLimit, Name: "fleet", Admitted: 2, Tokens: 5, Mode: watch.ModeShared}})
	l.Add(reported{{Kind: watch.KindRateLimit, Name: "fleet", Admitted: 1, Rejected: 4, Tokens: 0, Mode: watch.ModeClosed},
		{Kind: watch.KindRateLimit, Name: "other", Mode: watch.ModeShared}})
	got := l.Report().Limiters
	want := []watch.Limiter{
		{Kind: "ratelimit", Name: "fleet", Admitted: 3, Rejected: 4, Mode: watch.ModeClosed},
		{Kind: "ratelimit", Name: "other", Mode: watch.ModeShared},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

type reported []watch.Limiter

func (r reported) Report() []watch.Limiter { return r }
