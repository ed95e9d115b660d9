package breaker

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// ErrExists is returned by Registry.Add for a name already in use.
var ErrExists = errors.New("breaker: name already registered")

// DefaultMaxBreakers is the bound of a Registry whose MaxBreakers is zero.
const DefaultMaxBreakers = 1000

// RegistryConfig describes a Registry.
type RegistryConfig struct {
	// Defaults is the Config of every breaker the registry creates, each
	// under its own Name.
	Defaults Config
	// MaxBreakers bounds the number of breakers the registry holds, for
	// keys that come from the outside world (hosts of URLs, tenants).
	// Creating a breaker past the bound evicts one: the first idle closed
	// breaker in a round-robin sweep (idle: not looked up since the sweep
	// last passed it), else the first idle one in any state. An evicted
	// breaker is forgotten as by Remove, and so are its metric series; its
	// key gets a new closed breaker on next use. Zero means
	// DefaultMaxBreakers (1,000); at most MaxCount.
	MaxBreakers int
}

// Registry holds breakers by name (a service, a host, a route), creating
// each on first use from shared defaults, up to a bound. It is safe for
// concurrent use; looking up an existing breaker takes no lock.
type Registry struct {
	defaults settings
	max      int
	byName   sync.Map // string → *Breaker; written under mu only

	mu   sync.Mutex
	ring []*Breaker // every registered breaker, in sweep order
	hand int        // where the next eviction sweep starts
}

// NewRegistry returns a registry described by cfg. It checks cfg once, so
// Get cannot fail.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	s, err := cfg.Defaults.settings()
	if err != nil {
		return nil, err
	}
	if cfg.MaxBreakers < 0 || cfg.MaxBreakers > MaxCount {
		return nil, invalid("MaxBreakers", "must be in [0, %d], got %d", MaxCount, cfg.MaxBreakers)
	}
	r := &Registry{defaults: s, max: cfg.MaxBreakers}
	if r.max == 0 {
		r.max = DefaultMaxBreakers
	}
	return r, nil
}

// Get returns the breaker called name, creating it from the registry's
// defaults if there is none yet.
func (r *Registry) Get(name string) *Breaker {
	if b, ok := r.byName.Load(name); ok {
		return b.(*Breaker).touch()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.byName.Load(name); ok {
		return b.(*Breaker).touch()
	}
	s := r.defaults
	s.name, s.config.Name = name, name
	b := newBreaker(s)
	r.insertLocked(b) // unmarked: a key looked up once is the first to go
	return b
}

// touch marks b as used since the eviction sweep last passed it; it
// writes only when the mark is not yet set.
func (b *Breaker) touch() *Breaker {
	if !b.used.Load() {
		b.used.Store(true)
	}
	return b
}

// Add registers a breaker made from cfg under cfg.Name, for a name that
// needs settings other than the defaults. It fails with ErrExists if the
// name is taken, or with a *ConfigError.
func (r *Registry) Add(cfg Config) (*Breaker, error) {
	b, err := New(cfg)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byName.Load(cfg.Name); ok {
		return nil, fmt.Errorf("%w: %q", ErrExists, cfg.Name)
	}
	r.insertLocked(b)
	return b.touch(), nil
}

// insertLocked registers b, evicting a breaker first if the registry is
// full. Callers hold r.mu.
func (r *Registry) insertLocked(b *Breaker) {
	if len(r.ring) >= r.max {
		r.evictLocked()
	}
	r.ring = append(r.ring, b)
	r.byName.Store(b.s.name, b)
}

// evictLocked forgets one breaker, by the sweep RegistryConfig.MaxBreakers
// describes: a second-chance (clock) sweep that clears the marks it
// passes, preferring closed breakers during its first round.
func (r *Registry) evictLocked() {
	n := len(r.ring)
	for step := 0; ; step++ {
		r.hand %= n
		b := r.ring[r.hand]
		switch {
		case b.used.Load() && step < 2*n:
			b.used.Store(false)
		case step >= n || b.State() == Closed:
			r.removeAtLocked(r.hand)
			return
		}
		r.hand++
	}
}

// Remove forgets the breaker called name. Holders of it may keep using it.
func (r *Registry) Remove(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, b := range r.ring {
		if b.s.name == name {
			r.removeAtLocked(i)
			return
		}
	}
}

func (r *Registry) removeAtLocked(i int) {
	r.byName.Delete(r.ring[i].s.name)
	last := len(r.ring) - 1
	r.ring[i] = r.ring[last]
	r.ring[last] = nil
	r.ring = r.ring[:last]
}

// Len returns the number of breakers the registry holds.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ring)
}

// Range calls f for each registered breaker, in no order, until f returns
// false. It works on a snapshot: f may use the registry.
func (r *Registry) Range(f func(*Breaker) bool) {
	r.mu.Lock()
	all := append([]*Breaker(nil), r.ring...)
	r.mu.Unlock()
	for _, b := range all {
		if !f(b) {
			return
		}
	}
}

// Breakers returns the registered breakers, sorted by name.
func (r *Registry) Breakers() []*Breaker {
	r.mu.Lock()
	out := append([]*Breaker(nil), r.ring...)
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}
