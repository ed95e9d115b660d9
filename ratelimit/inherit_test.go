package ratelimit_test

import (
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/ratelimit"
)

// A limiter that takes over from another keeps the tokens it had (at most
// its own burst), and refills at its own rate.
func TestInheritKeepsTheTokens(t *testing.T) {
	for _, tc := range []struct {
		name        string
		spent, want int // tokens prev spent, calls next allows at once
	}{{"empty", 10, 0}, {"half", 5, 5}, {"full", 0, 8}} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.NewFake(time.Time{})
			prev, _ := ratelimit.New(ratelimit.Config{Rate: 10, Burst: 10, Clock: clk})
			if got := allowed(prev, tc.spent); got != tc.spent {
				t.Fatalf("prev allowed %d", got)
			}
			next, _ := ratelimit.New(ratelimit.Config{Rate: 100, Burst: 8, Clock: clk})
			next.Inherit(prev)
			if got := allowed(next, 20); got != tc.want {
				t.Fatalf("next allowed %d at once, want %d", got, tc.want)
			}
			clk.Advance(50 * time.Millisecond) // 5 tokens at next's rate
			if got := allowed(next, 20); got != 5 {
				t.Fatalf("next allowed %d after 50 ms, want 5", got)
			}
		})
	}
}

// stallingClock is a fake clock whose next reading, once armed, is taken
// and then held up: while the reader is stalled, time passes and stall
// runs (other callers use the limiter), before the stale reading is
// returned.
type stallingClock struct {
	*clocktest.Fake
	stall func()
}

func (c *stallingClock) Since(t time.Time) time.Duration {
	d := c.Fake.Since(t)
	if f := c.stall; f != nil {
		c.stall = nil
		f()
	}
	return d
}

// A reload whose reader of the old limiter is held up between reading the
// clock and reading the schedule must not hand the new limiter a debt the
// old one never had: the calls taken meanwhile were the tokens of the time
// that passed (found by TestReloadUnderLoadInheritsEveryKind under load:
// a new limiter of a million calls a second refused calls for a
// millisecond after a reload).
func TestInheritAfterAStalledReadingOwesNothing(t *testing.T) {
	clk := &stallingClock{Fake: clocktest.NewFake(time.Time{})}
	prev, _ := ratelimit.New(ratelimit.Config{Rate: 1000, Burst: 10, Clock: clk})
	next, _ := ratelimit.New(ratelimit.Config{Rate: 1000, Burst: 10, Clock: clk})
	clk.stall = func() {
		clk.Advance(5 * time.Millisecond)
		allowed(prev, 15) // the 10 held and the 5 refilled meanwhile
	}
	next.Inherit(prev)
	clk.Advance(time.Millisecond) // one more token for prev
	if !prev.Allow() {
		t.Fatal("prev refused its refilled token")
	}
	if got := allowed(next, 20); got == 0 {
		t.Fatalf("next allowed nothing a millisecond after the take-over: a debt from the stalled reading")
	}
}
