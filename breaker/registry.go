package breaker

import (
	"errors"
	"fmt"

	"github.com/breakwater-go/breakwater/internal/keyed"
)

// ErrExists is returned by Registry.Add for a name already in use.
var ErrExists = errors.New("breaker: name already registered")

// defaultMaxKeys is the bound of a Registry whose MaxKeys is zero.
const defaultMaxKeys = 1000

// RegistryConfig describes a Registry.
type RegistryConfig struct {
	// Defaults is the Config of every breaker the registry creates, each
	// under its own Name.
	Defaults Config
	// MaxKeys bounds the number of breakers the registry holds, for
	// keys that come from the outside world (hosts of URLs, tenants).
	// Creating a breaker past the bound evicts one: the first idle closed
	// breaker in a round-robin sweep (idle: not looked up since the sweep
	// last passed it), else, after a round, the first idle one in any
	// state. A half-open breaker with probes out is never evicted (a new
	// one beside it would probe too): while every breaker is, the
	// registry holds more. An evicted
	// breaker is forgotten as by Remove, and so are its metric series; its
	// key gets a new closed breaker on next use. Zero means
	// 1,000; at most MaxCount.
	MaxKeys int
}

// Registry holds breakers by name (a service, a host, a route), creating
// each on first use from shared defaults, up to a bound. It is safe for
// concurrent use; looking up an existing breaker takes no lock.
type Registry struct {
	defaults settings
	m        *keyed.Map[*Breaker]
}

// NewRegistry returns a registry described by cfg. It checks cfg once, so
// Get cannot fail.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	s, err := cfg.Defaults.settings()
	if err != nil {
		return nil, err
	}
	if cfg.MaxKeys < 0 || cfg.MaxKeys > MaxCount {
		return nil, invalid("MaxKeys", "must be in [0, %d], got %d", MaxCount, cfg.MaxKeys)
	}
	r := &Registry{defaults: s}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = defaultMaxKeys
	}
	r.m = keyed.New(cfg.MaxKeys, r.make, (*Breaker).probing, func(b *Breaker) bool { return b.State() != Closed })
	return r, nil
}

func (r *Registry) make(name string) *Breaker {
	s := r.defaults
	s.name, s.config.Name = name, name
	return newBreaker(s)
}

// probing reports a half-open breaker with probes out: evicting it would
// let a fresh breaker of the same name probe beside them.
func (b *Breaker) probing() bool {
	e := b.cur.Load()
	return e.state == HalfOpen && e.probes.Load() > e.passed.Load()+e.failed.Load()
}

// Get returns the breaker called name, creating it from the registry's
// defaults if there is none yet.
func (r *Registry) Get(name string) *Breaker { return r.m.Get(name) }

// Add registers a breaker made from cfg under cfg.Name, for a name that
// needs settings other than the defaults. It fails with ErrExists if the
// name is taken, or with a *config.Error.
func (r *Registry) Add(cfg Config) (*Breaker, error) {
	b, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if !r.m.Add(b.s.name, b) {
		return nil, fmt.Errorf("%w: %q", ErrExists, cfg.Name)
	}
	return b, nil
}

// Remove forgets the breaker called name. Holders of it may keep using it.
func (r *Registry) Remove(name string) { r.m.Remove(name) }

// All returns the registered breakers, sorted by name.
func (r *Registry) All() []*Breaker { return r.m.Values() }
