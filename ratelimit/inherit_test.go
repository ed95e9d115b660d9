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
