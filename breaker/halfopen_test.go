package breaker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
)

// halfOpen trips b and lets its cool-down of 30 s pass.
func halfOpen(t *testing.T, b *breaker.Breaker, clk interface{ Advance(time.Duration) }) {
	t.Helper()
	b.Trip()
	clk.Advance(30 * time.Second)
	wantState(t, b, breaker.HalfOpen)
}

// By default HalfOpen.Max bounds the probes of a whole half-open period,
// as gobreaker's MaxRequests does: a finished probe does not free its slot
// for another while the verdict is pending.
func TestHalfOpenProbesBoundThePeriod(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{HalfOpen: breaker.Probes{Max: 2}})
	halfOpen(t, b, clk)
	if err := run(t, b, nil); err != nil { // one success of the two needed
		t.Fatal(err)
	}
	p, err := b.Allow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := run(t, b, nil); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("a third probe in the period: %v, want ErrOpen", err)
	}
	p.Done(nil)
	wantState(t, b, breaker.Closed)
	if m := b.Metrics(); m.Rejections != 1 || m.Successes != 2 {
		t.Fatalf("metrics %+v", m)
	}
}

// With HalfOpen.InFlight the limit is on probes running at the same time: a
// finished probe's slot goes to the next.
func TestProbesInFlight(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{HalfOpen: breaker.Probes{Max: 1, InFlight: true, SuccessesToClose: 3}})
	halfOpen(t, b, clk)
	p, err := b.Allow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := run(t, b, nil); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("a second probe in flight: %v, want ErrOpen", err)
	}
	p.Done(nil)
	for i := 0; i < 2; i++ {
		if err := run(t, b, nil); err != nil {
			t.Fatalf("probe %d after the first finished: %v", i+2, err)
		}
	}
	wantState(t, b, breaker.Closed)
}

// A probe whose outcome says nothing gives its slot back, per period too.
func TestIgnoredProbeFreesItsSlotPerPeriod(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{})
	halfOpen(t, b, clk)
	if err := run(t, b, context.Canceled); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	p, err := b.Allow(context.Background())
	if err != nil {
		t.Fatalf("the slot of an ignored probe was kept: %v", err)
	}
	p.Release()
	if err := run(t, b, nil); err != nil {
		t.Fatalf("the slot of a released probe was kept: %v", err)
	}
	wantState(t, b, breaker.Closed)
}

// With HalfOpenFailureRate the period is judged by rate over its probes:
// it reopens as soon as the failures reach the rate, and closes as soon as
// they no longer can.
func TestHalfOpenFailureRate(t *testing.T) {
	tests := []struct {
		name     string
		outcomes []error
		want     []breaker.State // after each outcome
	}{
		{"closes once the rate is out of reach", []error{errBoom, nil, nil, nil},
			[]breaker.State{breaker.HalfOpen, breaker.HalfOpen, breaker.HalfOpen, breaker.Closed}},
		{"reopens once the rate is reached", []error{nil, errBoom, nil, errBoom},
			[]breaker.State{breaker.HalfOpen, breaker.HalfOpen, breaker.HalfOpen, breaker.Open}},
		{"two failures first reopen at once", []error{errBoom, errBoom},
			[]breaker.State{breaker.HalfOpen, breaker.Open}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 4 probes at 50 %: 2 failures reopen; 3 successes close.
			b, clk := newBreaker(t, breaker.Config{HalfOpen: breaker.Probes{Max: 4, FailureRate: 0.5}})
			halfOpen(t, b, clk)
			for i, err := range tt.outcomes {
				_ = run(t, b, err)
				if got := b.State(); got != tt.want[i] {
					t.Fatalf("after outcome %d (%v): state %v, want %v", i, err, got, tt.want[i])
				}
			}
		})
	}
}

// A slow probe counts as failed under a rate verdict too.
func TestHalfOpenFailureRateCountsSlowProbes(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{HalfOpen: breaker.Probes{Max: 2, FailureRate: 0.5}, SlowCallDuration: time.Second})
	halfOpen(t, b, clk)
	_ = b.Do(context.Background(), func(context.Context) error { clk.Advance(time.Second); return nil })
	wantState(t, b, breaker.Open)
}

func TestManualHalfOpen(t *testing.T) {
	b, _ := newBreaker(t, breaker.Config{})
	b.Trip()
	var changes []breaker.StateChange
	b2, _ := newBreaker(t, breaker.Config{Hooks: breaker.Hooks{OnStateChange: func(c breaker.StateChange) { changes = append(changes, c) }}})
	for _, b := range []*breaker.Breaker{b, b2} {
		b.HalfOpen()
		wantState(t, b, breaker.HalfOpen)
		b.HalfOpen() // no-op
		if err := run(t, b, nil); err != nil {
			t.Fatal(err)
		}
		wantState(t, b, breaker.Closed)
	}
	if len(changes) != 2 || changes[0].Reason != breaker.ReasonManual || changes[1].Reason != breaker.ReasonProbesPassed {
		t.Fatalf("changes %+v", changes)
	}
}
