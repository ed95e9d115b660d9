// Package slots counts calls in flight against a limit, spread over
// stripes on separate cache lines so that goroutines on different cores
// rarely write the same line: one shared counter costs twice a call's
// serial cost as soon as two cores contend for it. The bulkhead (a fixed
// limit) and the adaptive limit (a limit that moves) admit calls with it.
package slots

import (
	"math/bits"
	"sync/atomic"
)

// Slots holds up to eight stripes (a power of two), each with its share of
// the limit: a goroutine takes a slot from the stripe of its own
// (stripe.Index) and from the others only when that one is full. The
// total never exceeds the limit: no stripe lets more than its share in.
type Slots struct {
	stripes []slotStripe
}

type slotStripe struct {
	n     atomic.Int64  // slots taken
	taken atomic.Uint64 // slots counted by Count
	_     [112]byte     // a stripe to itself, and its neighbour line too (the adjacent-line prefetcher)
}

// New returns slots for limits of at most maxLimit, with as many stripes
// as fit: a stripe whose share would be zero at maxLimit is never made.
func New(maxLimit int64) Slots {
	k := int64(8) // a power of two: a stripe is picked with a mask
	for k > max(maxLimit, 1) {
		k /= 2
	}
	return Slots{stripes: make([]slotStripe, k)}
}

// share is stripe i's part of limit.
func (s *Slots) share(i int, limit int64) int64 {
	k := len(s.stripes)
	c := limit >> bits.TrailingZeros(uint(k))
	if int64(i) < limit&int64(k-1) {
		c++
	}
	return c
}

// Take takes a slot under limit, from the stripe home if it can, and
// returns its stripe; ok is false when every stripe is at its share.
// A stripe seen full is passed over on a read; otherwise counting in
// first and backing out when that went past the share is one atomic add
// where a compare-and-swap loop would retry. After the limit
// falls, stripes over their new share admit nothing until they drain.
func (s *Slots) Take(home int, limit int64) (i int, ok bool) {
	mask := len(s.stripes) - 1
	for j := range s.stripes {
		i = (home + j) & mask
		st, share := &s.stripes[i], s.share(i, limit)
		if st.n.Load() >= share {
			continue // full: a read leaves the line shared, where a write would take it
		}
		if st.n.Add(1) <= share {
			return i, true
		}
		st.n.Add(-1)
	}
	return 0, false
}

// Count counts a slot taken from stripe i, and returns the stripe's count
// after it, for a caller that acts on one take in several. The count is
// on the line the take wrote.
func (s *Slots) Count(i int) uint64 { return s.stripes[i].taken.Add(1) }

// Within reports that no stripe holds more than its share of limit: after
// the limit falls, stripes that held more admit nothing until they drain,
// but the others would admit up to their shares, past the limit in all.
func (s *Slots) Within(limit int64) bool {
	for i := range s.stripes {
		if s.stripes[i].n.Load() > s.share(i, limit) {
			return false
		}
	}
	return true
}

// Taken returns the slots counted by Count.
func (s *Slots) Taken() uint64 {
	var n uint64
	for i := range s.stripes {
		n += s.stripes[i].taken.Load()
	}
	return n
}

// Free gives back a slot of stripe i.
func (s *Slots) Free(i int) { s.stripes[i].n.Add(-1) }

// Stripes returns the number of stripes.
func (s *Slots) Stripes() int { return len(s.stripes) }

// InFlight returns the slots taken.
func (s *Slots) InFlight() int64 {
	var n int64
	for i := range s.stripes {
		n += s.stripes[i].n.Load()
	}
	return n
}
