package bulkhead

import "sync/atomic"

// slots counts the calls in flight against MaxConcurrent, spread over up to
// eight stripes (a power of two) on separate cache lines, each holding its share of the
// slots: a goroutine takes one from the stripe of its own, and from the
// others only when that one is full. Goroutines on different cores then
// rarely write the same line: one shared counter costs twice a call's
// serial cost as soon as two cores contend for it. The total never
// exceeds MaxConcurrent: each stripe never lets more than its share in.
type slots struct {
	stripes []slotStripe
}

type slotStripe struct {
	n   atomic.Int64 // slots taken, handed-over ones included
	cap int64
	_   [112]byte // a stripe to itself, and its neighbour line too (the adjacent-line prefetcher)
}

func newSlots(max int64) slots {
	k := int64(8) // a power of two: a stripe is picked with a mask
	for k > max {
		k /= 2
	}
	s := slots{stripes: make([]slotStripe, k)}
	for i := range s.stripes {
		s.stripes[i].cap = max / k
		if int64(i) < max%k {
			s.stripes[i].cap++
		}
	}
	return s
}

// take takes a slot, from the stripe home (of the caller: stripe.Index)
// if it can, and returns its stripe; ok is false when every stripe is
// full. Counting in first and backing out when that went past the share
// is one atomic add where a compare-and-swap loop would retry.
func (s *slots) take(home int) (i int, ok bool) {
	mask := len(s.stripes) - 1
	for j := range s.stripes {
		i = (home + j) & mask
		st := &s.stripes[i]
		if st.n.Add(1) <= st.cap {
			return i, true
		}
		st.n.Add(-1)
	}
	return 0, false
}

// free gives back a slot of stripe i.
func (s *slots) free(i int) { s.stripes[i].n.Add(-1) }

// inFlight returns the slots taken.
func (s *slots) inFlight() int64 {
	var n int64
	for i := range s.stripes {
		n += s.stripes[i].n.Load()
	}
	return n
}
