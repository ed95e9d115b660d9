package throttle_test

import (
	"context"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/throttle"
)

// A throttle that takes over from a refusing one of the same window goes
// on refusing; one of another window starts from nothing.
func TestInheritKeepsTheWindow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window time.Duration
		keeps  bool
	}{{"same window", 2 * time.Minute, true}, {"other window", time.Minute, false}} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.NewFake(time.Time{})
			prev, _ := throttle.New(throttle.Config{Clock: clk, Rand: func() float64 { return 0.99 }})
			for range 100 {
				p, err := prev.Allow(context.Background())
				if err == nil {
					p.Done(errTooMany)
				}
			}
			clk.Advance(10 * time.Second) // the new throttle starts later
			next, _ := throttle.New(throttle.Config{K: 1.5, Window: tc.window, Clock: clk})
			next.Inherit(prev)
			m, was := next.Metrics(), prev.Metrics()
			if got := m.Requests == was.Requests && m.Probability > 0; got != tc.keeps {
				t.Fatalf("requests %d (was %d), probability %.2f: kept %v, want %v", m.Requests, was.Requests, m.Probability, got, tc.keeps)
			}
			clk.Advance(2 * time.Minute) // the inherited counts slide out with their buckets
			if m := next.Metrics(); m.Requests != 0 {
				t.Fatalf("after the window: %+v", m)
			}
		})
	}
}
