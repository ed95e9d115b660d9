package adaptive

import (
	"context"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/clock/clocktest"
)

// At a high rate one call in several is timed, so that a window lasts at
// least 10 ms; at a low rate every call is, so that it lasts no more than
// 100 ms when it can. The calls in flight are counted either way.
func TestSamplingFollowsTheRate(t *testing.T) {
	clk := clocktest.NewFake(clocktest.Epoch)
	l, err := New(Config{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	calls := func(n int, each time.Duration) {
		for range n {
			p, err := l.Allow(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(each)
			p.Done(nil)
		}
	}
	calls(10_000, 10*time.Microsecond) // 100,000 a second: a window of 10 in 100 µs
	if got := l.every.Load(); got != maxEvery {
		t.Fatalf("at 100,000 calls a second one in %d is timed, want one in %d", got, maxEvery)
	}
	if n := l.slots.InFlight(); n != 0 {
		t.Fatalf("%d calls in flight after all ended", n)
	}
	calls(20*maxEvery, 50*time.Millisecond) // 20 a second
	if got := l.every.Load(); got != 1 {
		t.Fatalf("at 20 calls a second one in %d is timed, want every call", got)
	}
}
