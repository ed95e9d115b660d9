// Package keyed is a bounded map from keys that come from the outside world
// (hosts, tenants) to the policy that serves each: every registry of the
// policy packages is built on it. Lookups of a present key take no lock;
// past the bound, making a value evicts idle ones by a second-chance sweep.
package keyed

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Map holds a value per key, made on first use, at most Max of them while
// some are idle. It is safe for concurrent use.
type Map[V any] struct {
	make func(key string) V
	max  int
	// held reports a value that must not be evicted: calls in flight or
	// queued in it, whose bound a fresh value for the same key would
	// break. It may be nil.
	held func(V) bool
	// busy reports a value worth keeping over idle ones (an open
	// circuit): a sweep passes over busy values during its first round.
	// It may be nil.
	busy func(V) bool

	byKey sync.Map // string → *slot[V]; written under mu only

	mu    sync.Mutex
	ring  []*slot[V] // every value, in sweep order
	hand  int        // where the next sweep starts
	sweep int        // the size at which the next sweep runs, ≥ max
}

type slot[V any] struct {
	key  string
	v    V
	used atomic.Bool // looked up since the sweep last passed it
}

// New returns a Map holding at most max values (max ≥ 1), made by make.
// held and busy, either of which may be nil, say which values must never
// be evicted and which to keep over idle ones.
//
// A held value is never evicted, so a key never has two values at once
// while it has calls in flight: when every value is held, the map grows
// past max (by the keys with calls in flight, which their own bounds
// limit) and shrinks back as they end.
func New[V any](max int, make func(key string) V, held, busy func(V) bool) *Map[V] {
	return &Map[V]{make: make, max: max, held: held, busy: busy, sweep: max}
}

// Get returns the value of key, making it if need be. A value made past
// the bound evicts idle ones first: the first value neither looked up
// since the sweep last passed it nor busy; else, the sweep having cleared
// the marks in its first round, the first not busy in its second; else
// the first not held. Holders of an evicted value may keep
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
	v := m.make(key)
	m.insertLocked(key, v) // unmarked: a key seen once is the first to go
	return v
}

// Add puts v under key, unless key has a value already; it reports
// whether it did. An added value is marked looked up.
func (m *Map[V]) Add(key string, v V) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byKey.Load(key); ok {
		return false
	}
	m.insertLocked(key, v).touch()
	return true
}

func (m *Map[V]) insertLocked(key string, v V) *slot[V] {
	if len(m.ring) >= m.sweep {
		m.evictLocked()
	}
	s := &slot[V]{key: key, v: v}
	m.ring = append(m.ring, s)
	m.byKey.Store(key, s)
	return s
}

// touch marks s as used, writing only when the mark is not yet set.
func (s *slot[V]) touch() V {
	if !s.used.Load() {
		s.used.Store(true)
	}
	return s.v
}

// evictLocked makes room for one value: it evicts until the ring is under
// max, or until a sweep has passed every value and found each held. In
// that case the next sweep waits until the ring has grown by a quarter,
// so that a ring of held values costs amortised O(1) an insertion.
func (m *Map[V]) evictLocked() {
	for len(m.ring) >= m.max {
		if !m.evictOneLocked() {
			m.sweep = len(m.ring) + max(len(m.ring)/4, 1)
			return
		}
	}
	m.sweep = m.max
}

// evictOneLocked evicts one value that is not held, by the rule Get
// states, and reports whether there was one.
func (m *Map[V]) evictOneLocked() bool {
	n := len(m.ring)
	for step := 0; step < 3*n; step++ {
		m.hand %= n
		s := m.ring[m.hand]
		switch {
		case m.held != nil && m.held(s.v):
		case step < 2*n && s.used.Load():
			s.used.Store(false)
		case step < 2*n && m.busy != nil && m.busy(s.v):
		default:
			m.removeAtLocked(m.hand)
			return true
		}
		m.hand++
	}
	return false
}

// Remove forgets key's value, if there is one. Holders of it may keep
// using it.
func (m *Map[V]) Remove(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, s := range m.ring {
		if s.key == key {
			m.removeAtLocked(i)
			return
		}
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

// Range calls f for each value held, in no order, until f returns false.
// It works on a snapshot: f may use the map.
func (m *Map[V]) Range(f func(V) bool) {
	m.mu.Lock()
	slots := append([]*slot[V](nil), m.ring...)
	m.mu.Unlock()
	for _, s := range slots {
		if !f(s.v) {
			return
		}
	}
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
