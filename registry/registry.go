// Package registry keeps a policy per key that comes from the outside world
// (a host, a tenant, a route), made on first use, up to a bound: the
// registries of every per-key policy are this one type, made by each
// policy package's NewRegistry with the rule that keeps that policy's
// bounds (never evict one with calls in flight). Lookups of a present key
// take no lock; past the bound, making a policy evicts idle ones by a
// second-chance sweep.
package registry

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/breakwater-go/breakwater/config"
)

// ErrExists is returned by Registry.Add for a key already in use.
var ErrExists = errors.New("registry: key already in use")

// maxKeys bounds Config.MaxKeys.
const maxKeys = 1_000_000

// Config describes a Registry of policies of type P.
type Config[P any] struct {
	// MaxKeys bounds the policies kept, in [1, 1,000,000], so that keys
	// from the outside world cannot grow memory without end. Past it,
	// making one evicts one: the first neither looked up since the sweep
	// last passed it nor Busy; else, the sweep having cleared the marks in
	// its first round, the first not Busy in its second; else the first
	// not Held. A Held policy is never evicted: while every policy is
	// held, the registry holds more, and shrinks back as they end.
	MaxKeys int
	// New makes the policy of a key on its first use. It must not be nil.
	New func(key string) P
	// Held, when set, reports a policy that must never be evicted: calls
	// in flight or queued in it, whose bound a fresh policy for the same
	// key would break.
	Held func(P) bool
	// Busy, when set, reports a policy worth keeping over idle ones (an
	// open circuit, a bucket not yet refilled).
	Busy func(P) bool
}

// Registry holds a policy per key, made on first use, at most
// Config.MaxKeys of them while some are idle. It is safe for concurrent
// use; looking up a present key takes no lock. Holders of an evicted or
// removed policy may keep using it; its key gets a new one on next use.
type Registry[P any] struct {
	make       func(key string) P
	max        int
	held, busy func(P) bool

	byKey sync.Map // string → *slot[P]; written under mu only

	mu    sync.Mutex
	ring  []*slot[P] // every policy, in sweep order
	hand  int        // where the next sweep starts
	sweep int        // the size at which the next sweep runs, ≥ max
}

// New returns a registry described by cfg, or a *config.Error.
func New[P any](cfg Config[P]) (*Registry[P], error) {
	switch {
	case cfg.MaxKeys < 1 || cfg.MaxKeys > maxKeys:
		return nil, &config.Error{Package: "registry", Field: "MaxKeys", Reason: fmt.Sprintf("must be in [1, %d], got %d", maxKeys, cfg.MaxKeys)}
	case cfg.New == nil:
		return nil, &config.Error{Package: "registry", Field: "New", Reason: "must not be nil"}
	}
	return &Registry[P]{make: cfg.New, max: cfg.MaxKeys, held: cfg.Held, busy: cfg.Busy, sweep: cfg.MaxKeys}, nil
}

// Get returns the policy of key, making it if need be.
func (m *Registry[P]) Get(key string) P {
	if s, ok := m.byKey.Load(key); ok {
		return s.(*slot[P]).touch()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.byKey.Load(key); ok {
		return s.(*slot[P]).touch()
	}
	v := m.make(key)
	m.insertLocked(key, v) // unmarked: a key seen once is the first to go
	return v
}

// Add puts p under key, for a key that needs a policy other than the one
// New makes; it fails with ErrExists if key has one already. An added
// policy counts as looked up.
func (m *Registry[P]) Add(key string, p P) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byKey.Load(key); ok {
		return fmt.Errorf("%w: %q", ErrExists, key)
	}
	m.insertLocked(key, p).touch()
	return nil
}

func (m *Registry[P]) insertLocked(key string, v P) *slot[P] {
	if len(m.ring) >= m.sweep {
		m.evictLocked()
	}
	s := &slot[P]{key: key, v: v}
	m.ring = append(m.ring, s)
	m.byKey.Store(key, s)
	return s
}

type slot[P any] struct {
	key  string
	v    P
	used atomic.Bool // looked up since the sweep last passed it
}

// touch marks s as used, writing only when the mark is not yet set.
func (s *slot[P]) touch() P {
	if !s.used.Load() {
		s.used.Store(true)
	}
	return s.v
}

// evictLocked makes room for one value: it evicts until the ring is under
// max, or until a sweep has passed every value and found each held. In
// that case the next sweep waits until the ring has grown by a quarter,
// so that a ring of held values costs amortised O(1) an insertion.
func (m *Registry[P]) evictLocked() {
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
func (m *Registry[P]) evictOneLocked() bool {
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

// Remove forgets the policy of key, if there is one.
func (m *Registry[P]) Remove(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, s := range m.ring {
		if s.key == key {
			m.removeAtLocked(i)
			return
		}
	}
}

func (m *Registry[P]) removeAtLocked(i int) {
	m.byKey.Delete(m.ring[i].key)
	last := len(m.ring) - 1
	m.ring[i] = m.ring[last]
	m.ring[last] = nil
	m.ring = m.ring[:last]
}

// All returns the policies held, sorted by key.
func (m *Registry[P]) All() []P {
	m.mu.Lock()
	slots := append([]*slot[P](nil), m.ring...)
	m.mu.Unlock()
	sort.Slice(slots, func(i, j int) bool { return slots[i].key < slots[j].key })
	out := make([]P, len(slots))
	for i, s := range slots {
		out[i] = s.v
	}
	return out
}
