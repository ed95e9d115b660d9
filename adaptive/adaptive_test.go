package adaptive_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
)

func newLimiter(t *testing.T, cfg adaptive.Config) (*adaptive.Limiter, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.NewFake(time.Time{})
	cfg.Clock = clk
	l, err := adaptive.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, clk
}

// round runs as many calls at once as the limit allows, each taking rtt.
func round(t *testing.T, l *adaptive.Limiter, clk *clocktest.Fake, rtt time.Duration) {
	t.Helper()
	if limit, n := l.Metrics().Limit, roundEnding(l, clk, rtt, nil); n != limit {
		t.Fatalf("%d calls admitted, limit %d", n, limit)
	}
}

// roundEnding runs as many calls at once as the limit allows, each ending
// with err after rtt, and returns how many ran.
func roundEnding(l *adaptive.Limiter, clk *clocktest.Fake, rtt time.Duration, err error) int {
	var ps []outcome.Permit
	for {
		p, aerr := l.Allow(context.Background())
		if aerr != nil {
			break
		}
		ps = append(ps, p)
	}
	clk.Advance(rtt)
	for _, p := range ps {
		p.Done(err)
	}
	return len(ps)
}

// While latency stays at its baseline, the limit grows, up to MaxLimit.
func TestLimitGrowsWhileLatencyHolds(t *testing.T) {
	var changes []adaptive.LimitChange
	l, clk := newLimiter(t, adaptive.Config{InitialLimit: 10, MaxLimit: 50,
		Hooks: adaptive.Hooks{OnLimitChange: func(c adaptive.LimitChange) { changes = append(changes, c) }}})
	for range 5 {
		round(t, l, clk, 10*time.Millisecond)
	}
	if got := l.Metrics().Limit; got <= 10 {
		t.Fatalf("limit %d after 5 rounds at a steady latency", got)
	}
	for range 50 {
		round(t, l, clk, 10*time.Millisecond)
	}
	if got := l.Metrics().Limit; got != 50 {
		t.Fatalf("limit %d, want MaxLimit 50", got)
	}
	if len(changes) == 0 || changes[0].From != 10 {
		t.Fatalf("changes %+v", changes)
	}
}

// When queueing shows as latency above the baseline, the limit shrinks,
// down to MinLimit at most.
func TestLimitShrinksWhenLatencyRises(t *testing.T) {
	l, clk := newLimiter(t, adaptive.Config{InitialLimit: 40, MinLimit: 5, MaxLimit: 40})
	for range 20 {
		round(t, l, clk, 10*time.Millisecond)
	}
	before := l.Metrics().Limit
	for range 5 {
		round(t, l, clk, 50*time.Millisecond)
	}
	after := l.Metrics().Limit
	if after >= before/2 {
		t.Fatalf("limit %d → %d with latency ×5: want it at least halved", before, after)
	}
	for range 50 {
		round(t, l, clk, 500*time.Millisecond)
	}
	if got := l.Metrics().Limit; got < 5 {
		t.Fatalf("limit %d below MinLimit", got)
	}
	if m := l.Metrics(); m.Baseline <= 10*time.Millisecond || m.InFlight != 0 {
		t.Fatalf("metrics %+v", m)
	}
}

// With few calls in flight the limit is not the bottleneck: it does not
// grow on their samples.
func TestNoGrowthWhenTheLimitIsNotReached(t *testing.T) {
	l, clk := newLimiter(t, adaptive.Config{InitialLimit: 20})
	for range 100 {
		_ = l.Do(context.Background(), func(context.Context) error { clk.Advance(time.Millisecond); return nil })
	}
	if got := l.Metrics().Limit; got != 20 {
		t.Fatalf("limit %d after calls one at a time", got)
	}
}

func TestRejectsOverTheLimit(t *testing.T) {
	l, _ := newLimiter(t, adaptive.Config{Name: "db", InitialLimit: 1, MaxLimit: 1})
	p, err := l.Allow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = l.Do(context.Background(), func(context.Context) error { return nil })
	var le *outcome.RejectedError
	if !errors.Is(err, adaptive.ErrLimited) || !errors.As(err, &le) || !outcome.Rejected(err) || le.Name != "db" {
		t.Fatalf("over the limit: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = l.Do(context.Background(), func(context.Context) error { return nil }) }); n != 0 {
		t.Fatalf("%v allocs per rejection", n)
	}
	p.Release()
	if m := l.Metrics(); m.InFlight != 0 || m.Admitted != 1 || m.Rejected != 102 {
		t.Fatalf("metrics %+v", m)
	}
}

// Many goroutines: never more in flight than the limit can reach.
func TestNeverMoreThanTheLimitInFlight(t *testing.T) {
	const maxLimit = 8
	l, err := adaptive.New(adaptive.Config{InitialLimit: 4, MaxLimit: maxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var running, peak atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 300 {
				_ = l.Do(context.Background(), func(context.Context) error {
					n := running.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					runtime.Gosched()
					running.Add(-1)
					return nil
				})
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > maxLimit || p == 0 {
		t.Fatalf("peak %d in flight, MaxLimit %d", p, maxLimit)
	}
	if m := l.Metrics(); m.InFlight != 0 || m.Admitted+m.Rejected != 32*300 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestInvalidConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg   adaptive.Config
		field string
	}{
		{adaptive.Config{MinLimit: -1}, "MinLimit"},
		{adaptive.Config{MaxLimit: 1_000_000 + 1}, "MaxLimit"},
		{adaptive.Config{MinLimit: 10, MaxLimit: 5}, "MaxLimit"},
		{adaptive.Config{InitialLimit: 300}, "InitialLimit"},
		{adaptive.Config{Smoothing: 1.5}, "Smoothing"},
		{adaptive.Config{Tolerance: 0.5}, "Tolerance"},
		{adaptive.Config{Queue: -1}, "Queue"},
	} {
		_, err := adaptive.New(tt.cfg)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, config.ErrInvalid) {
			t.Errorf("New(%+v) = %v, want a config.Error for %s", tt.cfg, err, tt.field)
		}
	}
}

// A call that panics, or a hook that does, leaves nothing held: the slot
// is free, and the limit keeps moving.
func TestPanicsLeaveNothingHeld(t *testing.T) {
	l, clk := newLimiter(t, adaptive.Config{InitialLimit: 2, MaxLimit: 2, Hooks: adaptive.Hooks{
		OnLimitChange: func(adaptive.LimitChange) { panic("hook") },
		OnReject:      func(context.Context, adaptive.RejectEvent) { panic("hook") },
	}})
	mustPanic := func(f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		f()
	}
	mustPanic(func() { _ = l.Do(context.Background(), func(context.Context) error { panic("call") }) })
	p1, _ := l.Allow(context.Background())
	p2, _ := l.Allow(context.Background())
	mustPanic(func() { _, _ = l.Allow(context.Background()) }) // over the limit: OnReject panics
	clk.Advance(time.Millisecond)
	p1.Done(nil)
	p2.Done(nil)
	if m := l.Metrics(); m.InFlight != 0 || m.Admitted != 3 || m.Rejected != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

// innerRejection is what a policy inside the limiter returns for a call
// it turned away before the dependency saw it.
type innerRejection struct{}

func (innerRejection) Error() string  { return "bulkhead full" }
func (innerRejection) Rejected() bool { return true }

// A call turned away inside the limiter is not a round trip: sampling its
// near-zero time would make the dependency look fast and the limit grow.
func TestInnerRejectionsAreNotSampled(t *testing.T) {
	l, _ := newLimiter(t, adaptive.Config{})
	for range 100 {
		_ = l.Do(context.Background(), func(context.Context) error { return innerRejection{} })
	}
	if m := l.Metrics(); m.Baseline != 0 || m.InFlight != 0 || m.Admitted != 100 {
		t.Errorf("metrics %+v; want no sample, nothing in flight, 100 admitted", m)
	}
}

// One slow call among quick ones is noise, not queueing: the limit moves
// on a window's average, so it does not shrink for it.
func TestOneSlowCallDoesNotShrinkTheLimit(t *testing.T) {
	l, clk := newLimiter(t, adaptive.Config{InitialLimit: 10, MaxLimit: 10})
	for range 3 {
		round(t, l, clk, 10*time.Millisecond) // a window each: the baseline is 10 ms
	}
	var ps []outcome.Permit
	for range 10 {
		p, err := l.Allow(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	clk.Advance(10 * time.Millisecond)
	for _, p := range ps[:9] {
		p.Done(nil)
	}
	clk.Advance(20 * time.Millisecond)
	ps[9].Done(nil) // 30 ms: alone, three times the baseline
	if got := l.Metrics().Limit; got != 10 {
		t.Errorf("limit %d after one slow call in a window of quick ones, want 10", got)
	}
}

// A first window quicker than the dependency's usual latency (common with
// exponential service times) does not set the baseline alone: the windows
// after it, at the usual latency, do not read as queueing. Before, the
// baseline took the first window's 40 ms and the limit fell by a third
// over the next windows at 100 ms, shedding calls from a healthy
// dependency for its first seconds.
func TestQuickFirstWindowDoesNotShrinkTheLimit(t *testing.T) {
	l, clk := newLimiter(t, adaptive.Config{InitialLimit: 50, MaxLimit: 50})
	round(t, l, clk, 40*time.Millisecond)
	for range 9 {
		round(t, l, clk, 100*time.Millisecond)
	}
	if got := l.Metrics().Limit; got < 50 {
		t.Errorf("limit %d after a quick first window and nine usual ones, want 50", got)
	}
}

// roundFailing runs as many calls at once as the limit allows, each
// failing after rtt.
func roundFailing(l *adaptive.Limiter, clk *clocktest.Fake, rtt time.Duration) {
	roundEnding(l, clk, rtt, errors.New("503"))
}

// Fast failures do not teach the limiter a false baseline: after an
// outage whose calls failed in 100 µs, latency back at its normal 10 ms
// finds the limit where it was. (Before, the baseline fell to ~100 µs and
// the limit to 8, and took 2.8 s to climb back to half.)
func TestFastFailuresDoNotSetTheBaseline(t *testing.T) {
	l, clk := newLimiter(t, adaptive.Config{InitialLimit: 200, MaxLimit: 200})
	for range 20 {
		round(t, l, clk, 10*time.Millisecond)
	}
	before := l.Metrics()
	for range 200 { // the outage: 2,000 windows of fast failures
		roundFailing(l, clk, 100*time.Microsecond)
	}
	if m := l.Metrics(); m.Baseline < before.Baseline {
		t.Errorf("baseline %v after fast failures, was %v", m.Baseline, before.Baseline)
	}
	after := l.Metrics().Limit
	round(t, l, clk, 10*time.Millisecond)
	t.Logf("limit %d before the outage, %d after it, %d after one round at 10 ms", before.Limit, after, l.Metrics().Limit)
	if got := l.Metrics().Limit; got < 150 {
		t.Errorf("limit %d at the normal latency after the outage, was %d", got, before.Limit)
	}
	// A fresh limiter whose first calls fail fast has no baseline yet.
	fresh, clk := newLimiter(t, adaptive.Config{InitialLimit: 200, MaxLimit: 200})
	for range 20 {
		roundFailing(fresh, clk, 100*time.Microsecond)
	}
	if m := fresh.Metrics(); m.Baseline != 0 {
		t.Errorf("baseline %v learnt from failures alone", m.Baseline)
	}
	for range 20 {
		round(t, fresh, clk, 10*time.Millisecond)
	}
	if m := fresh.Metrics(); m.Baseline < 9*time.Millisecond || m.Limit < 150 {
		t.Errorf("after 20 rounds at 10 ms: baseline %v, limit %d", m.Baseline, m.Limit)
	}
}
