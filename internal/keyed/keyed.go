// Package keyed is a bounded map from keys that come from the outside world
// (hosts, tenants) to the policy that serves each: the registries of the
// policy packages are built on it. Lookups of a present key take no lock;
// past the bound, making a value evicts one by a second-chance sweep.
package keyed

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Map holds a value per key, made on first use, at most Max of them. It is
// safe for concurrent use.
type Map[V any] struct {
	make func(key string) V
	max  int
	// busy reports a value that should outlive idle ones: an eviction
	// sweep passes over busy values during its first round.
	busy func(V) bool

	byKey sync.Map // string → *slot[V]; written under mu only

	mu   sync.Mutex
	ring []*slot[V] // every value, in sweep order
	hand int        // where the next sweep starts
}

type slot[V any] struct {
	key  string
	v    V
	used atomic.Bool // looked up since the sweep last passed it
}

// New returns a Map holding at most max values (max ≥ 1), made by make.
// busy, which may be nil, reports values to keep over idle ones when one
// must go (a bulkhead with calls in flight).
func New[V any](max int, make func(key string) V, busy func(V) bool) *Map[V] {
	return &Map[V]{make: make, max: max, busy: busy}
}

// Get returns the value of key, making it if need be. A value made past
// the bound evicts one: the first value not looked up since the sweep
// last passed it and not busy, else, after a round, the first not looked
// up, else the one under the hand. Holders of an evicted value may keep
// using it; the key gets a new one on next use.
func (m *Map[V]) Get(key string) V {
	if s, ok := m.byKey.Load(key); ok {
		return s.(*slot[V]).touch()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.byKey.Load(key); ok {
		return s.(*slot[V]).touch()
	}
	if len(m.ring) >= m.max {
		m.evictLocked()
	}
	s := &slot[V]{key: key, v: m.make(key)} // unmarked: a key seen once is the first to go
	m.ring = append(m.ring, s)
	m.byKey.Store(key, s)
	return s.v
}

// touch marks s as used, writing only when the mark is not yet set.
func (s *slot[V]) touch() V {
	if !s.used.Load() {
		s.used.Store(true)
	}
	return s.v
}

func (m *Map[V]) evictLocked() {
	n := len(m.ring)
	for step := 0; ; step++ {
		m.hand %= n
		s := m.ring[m.hand]
		switch {
		case s.used.Load() && step < 2*n:
			s.used.Store(false)
		case step >= n || m.busy == nil || !m.busy(s.v):
			m.removeAtLocked(m.hand)
			return
		}
		m.hand++
	}
}

func (m *Map[V]) removeAtLocked(i int) {
	m.byKey.Delete(m.ring[i].key)
	last := len(m.ring) - 1
	m.ring[i] = m.ring[last]
	m.ring[last] = nil
	m.ring = m.ring[:last]
}

// Len returns the number of values held.
func (m *Map[V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ring)
}

// Values returns the values held, sorted by key.
func (m *Map[V]) Values() []V {
	m.mu.Lock()
	slots := append([]*slot[V](nil), m.ring...)
	m.mu.Unlock()
	sort.Slice(slots, func(i, j int) bool { return slots[i].key < slots[j].key })
	out := make([]V, len(slots))
	for i, s := range slots {
		out[i] = s.v
	}
	return out
}
