package ratelimit

import (
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/clock/clocktest"
)

// A caller that read the clock, then was held up (preempted, a GC pause)
// while others took tokens at later times, is not turned away from a
// bucket that has tokens now: the schedule ran ahead of its reading, not
// of the present.
func TestAStaleReadingIsNotARefusal(t *testing.T) {
	clk := clocktest.NewFake(time.Time{})
	l, err := New(Config{Rate: 1000, Burst: 10, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	stale := l.now() // the held-up caller's reading
	clk.Advance(50 * time.Millisecond)
	for range 5 { // others, later: half the bucket
		if !l.Allow() {
			t.Fatal("refused")
		}
	}
	if _, _, ok := l.reserve(stale, 0); !ok {
		t.Fatalf("refused on a reading 50 ms old with %.0f tokens in the bucket", l.tokens())
	}
}
