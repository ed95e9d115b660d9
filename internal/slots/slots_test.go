package slots

import (
	"sync"
	"sync/atomic"
	"testing"
)

// However many goroutines take and free, the slots taken never exceed the
// limit, each stripe's share included.
func TestSlotsNeverExceedTheLimit(t *testing.T) {
	for _, limit := range []int64{1, 3, 8, 13, 100} {
		s := New(100)
		var cur atomic.Int64
		cur.Store(limit)
		var inFlight, most atomic.Int64
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for range 2000 {
					i, ok := s.Take(g, cur.Load())
					if !ok {
						continue
					}
					s.Count(i)
					n := inFlight.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					inFlight.Add(-1)
					s.Free(i)
				}
			})
		}
		wg.Wait()
		if most.Load() > limit || s.InFlight() != 0 {
			t.Errorf("limit %d: %d in flight at most, %d left", limit, most.Load(), s.InFlight())
		}
		if s.Taken() == 0 {
			t.Errorf("limit %d: nothing taken", limit)
		}
	}
}

// The shares of a limit add up to it, whatever the number of stripes.
func TestSharesAddUpToTheLimit(t *testing.T) {
	for _, maxLimit := range []int64{1, 2, 5, 8, 1000} {
		s := New(maxLimit)
		for limit := int64(0); limit <= 20; limit++ {
			var sum int64
			for i := range s.stripes {
				sum += s.share(i, limit)
			}
			if sum != limit {
				t.Errorf("%d stripes, limit %d: shares add up to %d", len(s.stripes), limit, sum)
			}
		}
	}
}
