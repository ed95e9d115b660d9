package breaker

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// ErrExists is returned by Registry.Add for a name already in use.
var ErrExists = errors.New("breaker: name already registered")

// Registry holds breakers by name (a service, a host, a route), creating
// each on first use from shared defaults. It is safe for concurrent use;
// looking up an existing breaker takes no lock.
type Registry struct {
	defaults settings
	byName   sync.Map // string → *Breaker
	mu       sync.Mutex
}

// NewRegistry returns a registry whose breakers are made from defaults,
// each with its own Name. It checks defaults once, so Get cannot fail.
func NewRegistry(defaults Config) (*Registry, error) {
	s, err := defaults.settings()
	if err != nil {
		return nil, err
	}
	return &Registry{defaults: s}, nil
}

// Get returns the breaker called name, creating it from the registry's
// defaults if there is none yet.
func (r *Registry) Get(name string) *Breaker {
	if b, ok := r.byName.Load(name); ok {
		return b.(*Breaker)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.byName.Load(name); ok {
		return b.(*Breaker)
	}
	s := r.defaults
	s.name = name
	b := newBreaker(s)
	r.byName.Store(name, b)
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
	if _, loaded := r.byName.LoadOrStore(cfg.Name, b); loaded {
		return nil, fmt.Errorf("%w: %q", ErrExists, cfg.Name)
	}
	return b, nil
}

// Remove forgets the breaker called name. Holders of it may keep using it.
func (r *Registry) Remove(name string) { r.byName.Delete(name) }

// Breakers returns the registered breakers, sorted by name.
func (r *Registry) Breakers() []*Breaker {
	var out []*Breaker
	r.byName.Range(func(_, b any) bool {
		out = append(out, b.(*Breaker))
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}
