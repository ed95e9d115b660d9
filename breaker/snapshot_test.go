package breaker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
)

// Two breakers on one clock follow one circuit through snapshots: what
// one learns, the other applies, with ReasonRestored on its change.
func TestSnapshotCarriesATripToAnotherBreaker(t *testing.T) {
	clk := clocktest.NewFake(time.Time{})
	var changes []breaker.StateChange
	a, _ := breaker.New(breaker.Config{Name: "a", Trip: breaker.Consecutive(2), Clock: clk})
	b, _ := breaker.New(breaker.Config{Name: "b", Trip: breaker.Consecutive(2), Clock: clk,
		Hooks: breaker.Hooks{OnStateChange: func(c breaker.StateChange) { changes = append(changes, c) }}})

	run(t, a, errBoom)
	if err := b.Restore(a.Snapshot()); err != nil {
		t.Fatal(err)
	}
	run(t, b, errBoom) // the second failure in a row, counted by b
	wantState(t, b, breaker.Open)
	if len(changes) != 1 || changes[0].Reason != breaker.ReasonConsecutiveFailures {
		t.Fatalf("changes %+v: want b's own trip", changes)
	}

	snap := b.Snapshot()
	if snap.State != breaker.Open || snap.Generation != 1 || snap.Until != clk.Now().Add(30*time.Second) || snap.Trips != 1 {
		t.Fatalf("snapshot %+v", snap)
	}
	if err := a.Restore(snap); err != nil {
		t.Fatal(err)
	}
	_, err := a.Allow(context.Background())
	var oe *breaker.OpenError
	if !errors.As(err, &oe) || !oe.Until.Equal(snap.Until) {
		t.Fatalf("a after restore: %v, want open until %v", err, snap.Until)
	}
	if got := a.Snapshot(); got != snap {
		t.Fatalf("a's snapshot %+v, want %+v", got, snap)
	}

	// a probes when the cool-down ends, and closes; b follows.
	clk.Advance(30 * time.Second)
	if err := run(t, a, nil); err != nil {
		t.Fatal(err)
	}
	wantState(t, a, breaker.Closed)
	changes = nil
	if err := b.Restore(a.Snapshot()); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, breaker.Closed)
	if len(changes) != 1 || changes[0].Reason != breaker.ReasonRestored || changes[0].From != breaker.HalfOpen {
		t.Fatalf("changes %+v: want one restored change out of b's half-open", changes)
	}
	if a.Snapshot().Generation != 3 || b.Snapshot() != a.Snapshot() {
		t.Fatalf("a %+v, b %+v: want both at generation 3", a.Snapshot(), b.Snapshot())
	}
}

// Restoring the stay a circuit is in takes its counts and keeps its
// permits; restoring another stay drops the permits of the old one.
func TestRestoreSameStayKeepsPermits(t *testing.T) {
	b, _ := newBreaker(t, breaker.Config{Trip: breaker.Consecutive(3)})
	p, err := b.Allow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := b.Snapshot()
	s.ConsecutiveFailures = 2 // two failures elsewhere
	if err := b.Restore(s); err != nil {
		t.Fatal(err)
	}
	p.Done(errBoom)
	wantState(t, b, breaker.Open)

	// A permit of the open circuit's half-open stay, then another stay.
	b2, clk := newBreaker(t, breaker.Config{})
	b2.Trip()
	clk.Advance(30 * time.Second)
	probe, err := b2.Allow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Restore(breaker.Snapshot{State: breaker.Closed, Generation: 9}); err != nil {
		t.Fatal(err)
	}
	probe.Done(errBoom) // from a stay that is over: not counted
	wantState(t, b2, breaker.Closed)
	if got := b2.Snapshot(); got.Generation != 9 || got.ConsecutiveFailures != 0 {
		t.Fatalf("snapshot %+v: want generation 9 and no failure counted", got)
	}
	b2.Trip()
	if got := b2.Snapshot().Generation; got != 10 {
		t.Fatalf("generation after a trip = %d, want 10", got)
	}
}

// An open snapshot whose cool-down has ended restores as half-open at once,
// ready for a probe.
func TestRestoreOpenPastItsUntilIsHalfOpen(t *testing.T) {
	var reasons []breaker.Reason
	b, clk := newBreaker(t, breaker.Config{Hooks: breaker.Hooks{OnStateChange: func(c breaker.StateChange) { reasons = append(reasons, c.Reason) }}})
	err := b.Restore(breaker.Snapshot{State: breaker.Open, Generation: 4, Until: clk.Now().Add(-time.Second), Trips: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, b, breaker.HalfOpen)
	if len(reasons) != 2 || reasons[0] != breaker.ReasonRestored || reasons[1] != breaker.ReasonCoolDown {
		t.Fatalf("reasons %v: want restored, then cool-down", reasons)
	}
	if s := b.Snapshot(); s.Generation != 5 || s.Trips != 2 {
		t.Fatalf("snapshot %+v: want the half-open stay after generation 4", s)
	}
	if err := run(t, b, nil); err != nil {
		t.Fatalf("probe: %v", err)
	}
	wantState(t, b, breaker.Closed)
}

// An open snapshot without Until opens for the breaker's own open
// duration, grown by the snapshot's trips, as Trip would.
func TestRestoreOpenWithoutUntilUsesTheOpenDuration(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{OpenDuration: 10 * time.Second, OpenDurationMultiplier: 2})
	if err := b.Restore(breaker.Snapshot{State: breaker.Open, Generation: 3, Trips: 2}); err != nil {
		t.Fatal(err)
	}
	if got, want := b.Snapshot().Until, clk.Now().Add(20*time.Second); !got.Equal(want) {
		t.Fatalf("Until %v, want %v (the second trip's duration)", got, want)
	}
	clk.Advance(20 * time.Second)
	wantState(t, b, breaker.HalfOpen)
}

func TestRestoreRejectsInvalidSnapshots(t *testing.T) {
	tests := []struct {
		name string
		give breaker.Snapshot
	}{
		{"unknown state", breaker.Snapshot{State: breaker.State(9)}},
		{"negative state", breaker.Snapshot{State: breaker.State(-1)}},
		{"negative trips", breaker.Snapshot{Trips: -1}},
		{"negative failures", breaker.Snapshot{ConsecutiveFailures: -3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newBreaker(t, breaker.Config{})
			before := b.Snapshot()
			if err := b.Restore(tt.give); err == nil {
				t.Fatal("Restore accepted it")
			}
			if after := b.Snapshot(); after != before {
				t.Fatalf("snapshot moved from %+v to %+v", before, after)
			}
		})
	}
}

// Restores racing with calls and operators: no panic, no race, and the
// counters add up.
func TestRestoreUnderConcurrentCalls(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{Trip: breaker.Consecutive(2), HalfOpen: breaker.Probes{Max: 2}})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if i%3 == 0 {
					err = errBoom
				}
				_ = b.Do(context.Background(), func(context.Context) error { return err })
			}
		}()
	}
	snaps := []breaker.Snapshot{
		{State: breaker.Open, Generation: 100, Until: clk.Now().Add(time.Second), Trips: 1},
		{State: breaker.Closed, Generation: 200, ConsecutiveFailures: 1},
		{State: breaker.HalfOpen, Generation: 300},
		{State: breaker.ForcedOpen, Generation: 400},
		{State: breaker.Disabled, Generation: 500},
	}
	for i := 0; i < 2000; i++ {
		if err := b.Restore(snaps[i%len(snaps)]); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			clk.Advance(time.Second)
		}
		_ = b.Snapshot()
	}
	close(stop)
	wg.Wait()
	m := b.Metrics()
	if m.Calls != m.Successes+m.Failures+m.Ignored {
		t.Fatalf("counts do not add up: %+v", m)
	}
}

// A breaker that takes over from another of the same window shape (a
// configuration changed live) keeps the window's outcomes, shifted to its
// own clock origin; one of another shape starts a window of its own.
func TestInheritKeepsAWindowOfTheSameShape(t *testing.T) {
	for _, tc := range []struct {
		name      string
		old, next breaker.Trip
		later     time.Duration // between the take-over and the next calls
		trips     bool
	}{
		{"count window", breaker.CountWindow{Size: 10, MinCalls: 10}, breaker.CountWindow{Size: 10, MinCalls: 10, FailureRate: 0.6}, 0, true},
		{"time window", breaker.TimeWindow{Length: 10 * time.Second, MinCalls: 10}, breaker.TimeWindow{Length: 10 * time.Second, MinCalls: 10, FailureRate: 0.6}, 0, true},
		{"time window, slid past", breaker.TimeWindow{Length: 10 * time.Second, MinCalls: 10}, breaker.TimeWindow{Length: 10 * time.Second, MinCalls: 10, FailureRate: 0.6}, 9500 * time.Millisecond, false},
		{"resized", breaker.CountWindow{Size: 10, MinCalls: 10}, breaker.CountWindow{Size: 20, MinCalls: 10, FailureRate: 0.6}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.NewFake(time.Time{})
			old, _ := breaker.New(breaker.Config{Trip: tc.old, Clock: clk})
			for i := range 8 {
				clk.Advance(500 * time.Millisecond)
				run(t, old, []error{nil, errBoom}[i%2])
			}
			clk.Advance(time.Second) // the new breaker's origin is later
			next, _ := breaker.New(breaker.Config{Trip: tc.next, Clock: clk})
			next.Inherit(old)
			clk.Advance(tc.later)
			run(t, next, errBoom)
			run(t, next, errBoom) // 6 failures in 10 calls if the 8 were kept
			if got := next.State() == breaker.Open; got != tc.trips {
				t.Fatalf("open %v, want %v", got, tc.trips)
			}
		})
	}
}

// A breaker that takes over from an open one is open until the same time.
func TestInheritKeepsAnOpenCircuitOpen(t *testing.T) {
	clk := clocktest.NewFake(time.Time{})
	old, _ := breaker.New(breaker.Config{Trip: breaker.Consecutive(1), Clock: clk})
	run(t, old, errBoom)
	next, _ := breaker.New(breaker.Config{Trip: breaker.Consecutive(5), OpenDuration: time.Hour, Clock: clk})
	next.Inherit(old)
	wantState(t, next, breaker.Open)
	clk.Advance(30 * time.Second)
	wantState(t, next, breaker.HalfOpen)
}
