// Package stripe provides a counter for hot paths that many goroutines
// write at once.
package stripe

import (
	"sync/atomic"
	"unsafe"
)

const (
	stripeBits = 3
	stripes    = 1 << stripeBits
)

// Counter is a uint64 counter spread over stripes on separate cache lines.
// A goroutine adds to the stripe picked by the address of its stack, so
// goroutines running on different cores rarely write the same line: a
// single shared atomic costs several times more once two cores contend
// for it. The zero Counter is ready to use.
type Counter struct {
	s [stripes]struct {
		n atomic.Uint64
		_ [56]byte
	}
}

// Add adds n to the counter.
func (c *Counter) Add(n uint64) { c.s[index()].n.Add(n) }

// AddAt adds n to the counter's stripe i (in [0, 8)), for a caller that
// has picked the stripe of its other writes already (Index(8)).
func (c *Counter) AddAt(i int, n uint64) { c.s[i&(stripes-1)].n.Add(n) }

// Load returns the counter's value: the sum of its stripes, each read
// atomically.
func (c *Counter) Load() uint64 {
	var sum uint64
	for i := range c.s {
		sum += c.s[i].n.Load()
	}
	return sum
}

// index hashes the address of a local variable, which lies on the calling
// goroutine's stack: stable for one goroutine, different across goroutines.
// Only the choice of stripe depends on it, never the count.
func index() int {
	var marker byte
	h := uint64(uintptr(unsafe.Pointer(&marker)))
	h ^= h >> 33 // murmur3's finaliser: every bit of the address moves the stripe
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return int(h >> (64 - stripeBits))
}

// Index returns a stripe in [0, n) for the calling goroutine, as Counter
// picks one: goroutines on different cores mostly get different ones.
// It is a hint for spreading writes, never part of a count.
func Index(n int) int {
	return index() % n
}
