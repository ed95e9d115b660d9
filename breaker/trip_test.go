package breaker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
)

func TestTripFor(t *testing.T) {
	var changes []breaker.StateChange
	b, clk := newBreaker(t, breaker.Config{Hooks: breaker.Hooks{OnStateChange: func(c breaker.StateChange) { changes = append(changes, c) }}})
	b.TripFor(2 * time.Minute) // longer than the 30 s configured, uncapped by nothing but the call
	if m := b.Metrics(); m.State != breaker.Open || m.RetryIn != 2*time.Minute || m.Trips != 1 {
		t.Fatalf("after TripFor: %+v", m)
	}
	clk.Advance(time.Minute)
	b.TripFor(10 * time.Second) // on an open circuit: a new end, no new trip
	if m := b.Metrics(); m.RetryIn != 10*time.Second || m.Trips != 1 || m.StateChanges != 1 {
		t.Fatalf("after a second TripFor: %+v", m)
	}
	clk.Advance(10 * time.Second)
	wantState(t, b, breaker.HalfOpen)
	b.TripFor(0) // no time: probes at once
	wantState(t, b, breaker.HalfOpen)
	if len(changes) != 2 || changes[0].Until != clk.Now().Add(-70*time.Second).Add(2*time.Minute) ||
		changes[1].Reason != breaker.ReasonCoolDown {
		t.Fatalf("changes %+v", changes)
	}
}

func TestTripForAnHour(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{})
	until := clk.Now().Add(time.Hour)
	b.TripFor(time.Hour)
	var oe *breaker.OpenError
	if err := run(t, b, nil); !errors.As(err, &oe) || !oe.Until.Equal(until) {
		t.Fatalf("rejection %v, want one open until %v", err, until)
	}
	b.TripFor(-time.Second) // none left: probes at once
	wantState(t, b, breaker.HalfOpen)
}

// OpenDurationFunc with RetryAfter keeps the circuit open for as long as
// the server said, capped by MaxOpenDuration; without a hint the
// configured duration holds.
func TestOpenUntilTheServerSaid(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{Trip: breaker.Consecutive(1), OpenDurationFunc: breaker.RetryAfter, MaxOpenDuration: 10 * time.Minute})
	_ = run(t, b, outcome.After(2*time.Minute, errBoom))
	if got := b.Metrics().RetryIn; got != 2*time.Minute {
		t.Fatalf("open for %v, want the 2m the server asked for", got)
	}
	clk.Advance(2 * time.Minute)
	_ = run(t, b, outcome.After(time.Hour, errBoom)) // the probe fails, asking for an hour
	if got := b.Metrics().RetryIn; got != 10*time.Minute {
		t.Fatalf("open for %v, want MaxOpenDuration", got)
	}
	clk.Advance(10 * time.Minute)
	_ = run(t, b, errBoom) // no hint: the configured 30 s
	if got := b.Metrics().RetryIn; got != 30*time.Second {
		t.Fatalf("open for %v, want 30s", got)
	}
}

func TestPanickingOpenDurationFuncStillTrips(t *testing.T) {
	b, _ := newBreaker(t, breaker.Config{Trip: breaker.Consecutive(1), OpenDurationFunc: func(error) time.Duration { panic("boom") }})
	mustPanic(t, func() { _ = run(t, b, errBoom) })
	if m := b.Metrics(); m.State != breaker.Open || m.RetryIn != 30*time.Second || m.Failures != 1 {
		t.Fatalf("metrics %+v: want open for the configured 30s", m)
	}
}

// A window's Func alone decides, asked after failures and slow calls with the
// counts at that moment.
func TestReadyToTrip(t *testing.T) {
	var seen []breaker.Counts
	b, _ := newBreaker(t, breaker.Config{Trip: breaker.CountWindow{Size: 10, Func: func(c breaker.Counts) bool {
		seen = append(seen, c)
		return c.Failures >= 2 && c.ConsecutiveFailures >= 2
	}}})
	for _, err := range []error{errBoom, nil, errBoom, nil, nil} {
		_ = run(t, b, err)
	}
	wantState(t, b, breaker.Closed) // four defaults would have tripped nothing either; 3 in a row is off
	_ = run(t, b, errBoom)
	wantState(t, b, breaker.Closed)
	_ = run(t, b, errBoom)
	wantState(t, b, breaker.Open)
	want := breaker.Counts{Calls: 7, Failures: 4, ConsecutiveFailures: 2}
	if len(seen) != 4 || seen[3] != want {
		t.Fatalf("ReadyToTrip saw %+v, want 4 calls ending with %+v", seen, want)
	}
}

// Without a window, a TripFunc replaces the default of 3 failures in a row.
func TestReadyToTripReplacesTheDefault(t *testing.T) {
	b, _ := newBreaker(t, breaker.Config{Trip: breaker.TripFunc(func(c breaker.Counts) bool { return c.ConsecutiveFailures >= 5 })})
	for i := 0; i < 4; i++ {
		_ = run(t, b, errBoom)
	}
	wantState(t, b, breaker.Closed)
	_ = run(t, b, errBoom)
	wantState(t, b, breaker.Open)
}

// FailureCount trips on an absolute number of failures within the time
// window, whatever their share and MinCalls.
func TestFailureCountWithinAPeriod(t *testing.T) {
	var changes []breaker.StateChange
	b, clk := newBreaker(t, breaker.Config{Trip: breaker.TimeWindow{Length: time.Minute, FailureCount: 3},
		Hooks: breaker.Hooks{OnStateChange: func(c breaker.StateChange) { changes = append(changes, c) }}})
	for i := 0; i < 100; i++ {
		_ = run(t, b, nil)
	}
	_ = run(t, b, errBoom)
	_ = run(t, b, errBoom)
	clk.Advance(time.Minute) // the first two leave the window
	_ = run(t, b, errBoom)
	_ = run(t, b, errBoom)
	wantState(t, b, breaker.Closed)
	_ = run(t, b, errBoom)
	wantState(t, b, breaker.Open)
	if c := changes[0]; c.Reason != breaker.ReasonFailureCount || c.Counts.Failures != 3 || c.Counts.Calls != 3 {
		t.Fatalf("change %+v", c)
	}
}

// A trip says which threshold was crossed, with the counts that crossed it
// (resilience4j's failure-rate and slow-call-rate exceeded events).
func TestStateChangeSaysWhichThresholdWasCrossed(t *testing.T) {
	slow := func(clk interface{ Advance(time.Duration) }) func(context.Context) error {
		return func(context.Context) error { clk.Advance(time.Second); return nil }
	}
	tests := []struct {
		name string
		cfg  breaker.Config
		fail func(b *breaker.Breaker, advance func(time.Duration))
		want breaker.Reason
		rate float64
	}{
		{"consecutive", breaker.Config{}, func(b *breaker.Breaker, _ func(time.Duration)) {
			for range 3 {
				_ = b.Do(context.Background(), func(context.Context) error { return errBoom })
			}
		}, breaker.ReasonConsecutiveFailures, 0},
		{"failure rate", breaker.Config{Trip: breaker.CountWindow{Size: 4}}, func(b *breaker.Breaker, _ func(time.Duration)) {
			for _, err := range []error{nil, errBoom, nil, errBoom} {
				_ = b.Do(context.Background(), func(context.Context) error { return err })
			}
		}, breaker.ReasonFailureRate, 0.5},
		{"slow-call rate", breaker.Config{Trip: breaker.CountWindow{Size: 2}, SlowCallDuration: time.Second}, nil, breaker.ReasonSlowCallRate, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []breaker.StateChange
			tt.cfg.Hooks.OnStateChange = func(c breaker.StateChange) { got = append(got, c) }
			b, clk := newBreaker(t, tt.cfg)
			if tt.fail != nil {
				tt.fail(b, clk.Advance)
			} else {
				for range 2 {
					_ = b.Do(context.Background(), slow(clk))
				}
			}
			if len(got) != 1 || got[0].To != breaker.Open || got[0].Reason != tt.want {
				t.Fatalf("changes %+v, want one into open for %v", got, tt.want)
			}
			c := got[0].Counts
			if c.Calls > 0 && max(float64(c.Failures), float64(c.SlowCalls))/float64(c.Calls) != tt.rate {
				t.Fatalf("counts %+v, want rate %v", c, tt.rate)
			}
		})
	}
}

func TestInitialState(t *testing.T) {
	for _, st := range []breaker.State{breaker.Closed, breaker.Open, breaker.ForcedOpen, breaker.Disabled} {
		b, clk := newBreaker(t, breaker.Config{InitialState: st})
		wantState(t, b, st)
		if m := b.Metrics(); m.Trips != 0 || m.StateChanges != 0 {
			t.Fatalf("%v: a starting state is no change: %+v", st, m)
		}
		clk.Advance(30 * time.Second)
		if st == breaker.Open {
			wantState(t, b, breaker.HalfOpen) // the cool-down runs from construction
		} else {
			wantState(t, b, st)
		}
	}
	_, err := breaker.New(breaker.Config{InitialState: breaker.HalfOpen})
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Field != "InitialState" {
		t.Fatalf("InitialState half-open: %v", err)
	}
}
