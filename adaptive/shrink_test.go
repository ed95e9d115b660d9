package adaptive

import (
	"context"
	"testing"

	"github.com/breakwater-go/breakwater/outcome"
)

// After the limit falls, the calls in flight never exceed it again:
// stripes that hold more than their new shares admit nothing, and the
// others admit only while the total is under the limit, as one counter
// would. (Without the total, the others filled up to their shares while
// the first still held their excess: 16 in flight under a limit of 10.)
func TestAFallingLimitHoldsOverAllStripes(t *testing.T) {
	l, err := New(Config{InitialLimit: 20})
	if err != nil {
		t.Fatal(err)
	}
	var held []outcome.Permit
	for range 20 {
		p, err := l.Allow(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, p)
	}
	l.mu.Lock()
	l.setLimitLocked(10)
	l.mu.Unlock()
	// Free the slots of some stripes only, leaving others over their share.
	kept := held[:0]
	for _, p := range held {
		if int(p.N&0xff) >= l.slots.Stripes()/2 {
			p.Release()
		} else {
			kept = append(kept, p)
		}
	}
	held = kept
	for len(held) >= 10 {
		if _, err := l.Allow(context.Background()); err == nil {
			t.Fatalf("admitted with %d in flight, limit 10", l.slots.InFlight()-1)
		}
		held[len(held)-1].Release()
		held = held[:len(held)-1]
	}
	if _, err := l.Allow(context.Background()); err != nil {
		t.Fatalf("refused with %d in flight, limit 10: %v", l.slots.InFlight(), err)
	}
}
