package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
)

// mustPanic runs f and fails the test unless it panics.
func mustPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatal("the hook's panic did not reach the caller")
		}
	}()
	f()
}

// A hook that panics while a half-open probe reports back must not keep the
// probe's slot: with HalfOpen.Timeout off, a kept slot rejects every later
// call for ever.
func TestPanickingHookDuringProbeFreesItsSlot(t *testing.T) {
	boom := func(any) { panic("hook") }
	tests := map[string]struct {
		hooks   breaker.Hooks
		outcome error
		want    breaker.State // after the probe
	}{
		"OnSuccess":                {breaker.Hooks{OnSuccess: func(_ context.Context, e breaker.CallEvent) { boom(e) }}, nil, breaker.Closed},
		"OnFailure":                {breaker.Hooks{OnFailure: func(_ context.Context, e breaker.CallEvent) { boom(e) }}, errBoom, breaker.Open},
		"OnIgnore":                 {breaker.Hooks{OnIgnore: func(_ context.Context, e breaker.CallEvent) { boom(e) }}, context.Canceled, breaker.HalfOpen},
		"OnStateChange on closing": {breaker.Hooks{OnStateChange: func(e breaker.StateChange) { boom(e) }}, nil, breaker.Closed},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			b, clk := newBreaker(t, breaker.Config{Trip: breaker.Consecutive(1), OpenDuration: time.Second, Hooks: tt.hooks})
			func() { defer func() { recover() }(); b.Trip() }() // the state-change hook may panic here
			func() { defer func() { recover() }(); clk.Advance(time.Second) }()
			wantState(t, b, breaker.HalfOpen)

			mustPanic(t, func() { _ = run(t, b, tt.outcome) })
			wantState(t, b, tt.want)
			if tt.want == breaker.HalfOpen { // the slot is free for the next probe
				if _, err := b.Allow(context.Background()); err != nil {
					t.Fatalf("next probe rejected after a panicking hook: %v", err)
				}
			}
		})
	}
}

// After a state-change hook panics, the events queued behind it are not
// lost: the next change delivers them, in order.
func TestPanickingStateHookLeavesLaterEventsQueued(t *testing.T) {
	var got []string
	panicOnce := true
	b, _ := newBreaker(t, breaker.Config{Hooks: breaker.Hooks{OnStateChange: func(e breaker.StateChange) {
		if panicOnce {
			panicOnce = false
			panic("hook")
		}
		got = append(got, fmt.Sprintf("%v→%v", e.From, e.To))
	}}})
	mustPanic(t, b.Trip)
	b.Reset()
	if want := "[open→closed]"; fmt.Sprint(got) != want {
		t.Fatalf("delivered %v, want %s", got, want)
	}
	b.ForceOpen()
	if want := "[open→closed closed→forced-open]"; fmt.Sprint(got) != want {
		t.Fatalf("delivered %v, want %s", got, want)
	}
}

// A released permit is neither a success nor a failure, and gives a probe's
// slot back.
func TestReleaseIsNeutral(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{Trip: breaker.Consecutive(2), OpenDuration: time.Second})
	_ = run(t, b, errBoom)
	p, err := b.Allow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.Release()
	_ = run(t, b, errBoom) // the run of failures was not broken by Release
	wantState(t, b, breaker.Open)

	clk.Advance(time.Second)
	p, err = b.Allow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.Release()
	wantState(t, b, breaker.HalfOpen)
	if _, err := b.Allow(context.Background()); err != nil {
		t.Fatalf("the released probe kept its slot: %v", err)
	}
	m := b.Metrics()
	if m.Ignored != 2 || m.Calls != m.Successes+m.Failures+m.Ignored {
		t.Fatalf("metrics %+v: want 2 ignored and counts that add up", m)
	}
}

// Fields that size memory are bounded: an absurd value is a *config.Error,
// never an allocation sized by it, nor a panic.
func TestHugeCountsAreRejected(t *testing.T) {
	tests := []struct {
		give  breaker.Config
		field string
	}{
		{breaker.Config{Trip: breaker.CountWindow{Size: math.MaxInt64}}, "Trip.Size"},
		{breaker.Config{Trip: breaker.CountWindow{Size: 1_000_000 + 1}}, "Trip.Size"},
		{breaker.Config{Trip: breaker.TimeWindow{Length: time.Hour, Buckets: math.MaxInt64}}, "Trip.Buckets"},
		{breaker.Config{Trip: breaker.TimeWindow{Length: time.Hour, Buckets: 1000 + 1}}, "Trip.Buckets"},
		{breaker.Config{Trip: breaker.Consecutive(math.MaxInt64)}, "Trip"},
		{breaker.Config{Trip: breaker.TimeWindow{Length: time.Hour, MinCalls: math.MaxInt64}}, "Trip.MinCalls"},
		{breaker.Config{HalfOpen: breaker.Probes{Max: math.MaxInt64}}, "HalfOpen.Max"},
		{breaker.Config{HalfOpen: breaker.Probes{SuccessesToClose: math.MaxInt64}}, "HalfOpen.SuccessesToClose"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			_, err := breaker.New(tt.give)
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("New(%+v) = %v, want a config.Error for %s", tt.give, err, tt.field)
			}
		})
	}
	// The largest values accepted work, and durations saturate.
	b, err := breaker.New(breaker.Config{Trip: breaker.CountWindow{Size: 1_000_000}, OpenDuration: math.MaxInt64, OpenDurationMultiplier: 1000})
	if err != nil {
		t.Fatal(err)
	}
	b.Trip()
	if d, rej := b.Gate(); rej == nil || d <= 0 {
		t.Fatalf("Gate after a trip of the longest open duration = %v, %v", d, rej)
	}
}

// Registry.Add must never report success while the registry keeps another
// breaker, made by a concurrent Get, under the same name.
func TestRegistryAddRacingGet(t *testing.T) {
	for i := 0; i < 2000; i++ {
		r, _ := breaker.NewRegistry(breaker.Config{}, 0)
		var added, got *breaker.Breaker
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			b, _ := breaker.New(breaker.Config{Name: "h"})
			if r.Add("h", b) == nil {
				added = b
			}
		}()
		go func() { defer wg.Done(); got = r.Get("h") }()
		wg.Wait()
		if added != nil && r.Get("h") != added {
			t.Fatalf("pair %d: Add succeeded but the registry keeps another breaker", i)
		}
		if added == nil && r.Get("h") != got {
			t.Fatalf("pair %d: Get's breaker was replaced", i)
		}
	}
}

// Keys from the outside world cannot grow a registry without bound: past
// MaxKeys, idle breakers are evicted, closed ones first.
func TestRegistryEvictsIdleBreakersPastItsBound(t *testing.T) {
	r, err := breaker.NewRegistry(breaker.Config{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	hot := r.Get("hot")
	sick := r.Get("sick")
	sick.Trip()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 100_000; i++ {
		r.Get(fmt.Sprintf("host-%d.example", i))
		if i%50 == 0 {
			r.Get("hot") // in use: kept
		}
		if n := len(r.All()); n > 100 {
			t.Fatalf("registry holds %d breakers, bound 100", n)
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 4<<20 {
		t.Fatalf("heap grew by %d bytes for a registry of 100", grown)
	}
	if r.Get("hot") != hot {
		t.Fatal("a breaker in use was evicted")
	}
	if r.Get("sick") != sick || sick.State() != breaker.Open {
		t.Fatal("an open breaker was evicted while idle closed ones were there")
	}
	if _, err := breaker.NewRegistry(breaker.Config{}, -1); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("negative MaxKeys: %v", err)
	}
}

// A classifier that panics (IsFailure, or an error's Is method) leaves no
// probe slot taken: the call counts as failed.
func TestPanickingClassifierFreesTheProbeSlot(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{Trip: breaker.Consecutive(1), OpenDuration: time.Second, HalfOpen: breaker.Probes{Max: 1, InFlight: true, SuccessesToClose: 2},
		IsFailure: func(error) bool { panic("classifier") }})
	b.Trip()
	clk.Advance(time.Second)
	p, err := b.Allow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mustPanic(t, func() { p.Done(errBoom) })
	wantState(t, b, breaker.Open) // the failed probe reopened it
	clk.Advance(time.Second)
	if _, err := b.Allow(context.Background()); err != nil {
		t.Fatalf("the next period's probe was rejected: %v", err)
	}
	if m := b.Metrics(); m.Failures != 1 {
		t.Fatalf("metrics %+v: want the panicking call counted as failed", m)
	}
}

type verdictError struct {
	error
	o outcome.Verdict
}

func (e verdictError) Verdict() outcome.Verdict { return e.o }

// An error's own Verdict decides how the call counts, whatever the
// Config's lists say: an integration classifies by its own rules.
func TestErrorVerdictDecides(t *testing.T) {
	b, _ := newBreaker(t, breaker.Config{Trip: breaker.Consecutive(2), Ignore: []error{errBoom}})
	_ = run(t, b, verdictError{errBoom, outcome.Failure}) // Ignore lists it, the verdict wins
	_ = run(t, b, verdictError{errors.New("404"), outcome.Success})
	_ = run(t, b, verdictError{errors.New("x"), outcome.Ignored})
	_ = run(t, b, verdictError{errors.New("y"), outcome.Verdict(9)}) // unknown: a failure
	m := b.Metrics()
	if m.Failures != 2 || m.Successes != 1 || m.Ignored != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

// A slow probe reopens the circuit, window or not, as the docs say.
func TestSlowProbeFailsWithoutAWindow(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{SlowCallDuration: time.Second, OpenDuration: time.Second})
	b.Trip()
	clk.Advance(time.Second)
	_ = b.Do(context.Background(), func(context.Context) error { clk.Advance(2 * time.Second); return nil })
	wantState(t, b, breaker.Open)
}

// The run of failures is reported with a window too.
func TestConsecutiveFailuresReportedWithAWindow(t *testing.T) {
	b, _ := newBreaker(t, breaker.Config{Trip: breaker.CountWindow{Size: 10}})
	for range 3 {
		_ = run(t, b, errBoom)
	}
	if m := b.Metrics(); m.ConsecutiveFailures != 3 || m.State != breaker.Closed {
		t.Fatalf("metrics %+v: want a run of 3 and still closed", m)
	}
	_ = run(t, b, nil)
	if m := b.Metrics(); m.ConsecutiveFailures != 0 {
		t.Fatalf("a success must end the run: %+v", m)
	}
}

// Trip on an open circuit is not a trip: counter, events and the open
// duration agree.
func TestTripOnAnOpenCircuitDoesNothing(t *testing.T) {
	var changes int
	b, clk := newBreaker(t, breaker.Config{OpenDuration: time.Minute, OpenDurationMultiplier: 2,
		Hooks: breaker.Hooks{OnStateChange: func(breaker.StateChange) { changes++ }}})
	b.Trip()
	clk.Advance(10 * time.Second)
	b.Trip()
	if m := b.Metrics(); m.Trips != 1 || m.StateChanges != 1 || changes != 1 || m.RetryIn != 50*time.Second {
		t.Fatalf("metrics %+v, %d events: want one trip, the cool-down unchanged", m, changes)
	}
}
