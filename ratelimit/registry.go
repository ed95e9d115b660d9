package ratelimit

import "github.com/breakwater-go/breakwater/internal/keyed"

// defaultMaxKeys is the default bound of a Registry.
const defaultMaxKeys = 10_000

// RegistryConfig describes a Registry.
type RegistryConfig struct {
	// Defaults is the Config of every limiter; each is named by its key.
	Defaults Config
	// MaxKeys bounds the limiters kept, so that keys from the outside world
	// (client addresses, hosts) cannot grow memory without end. Zero means
	// 10,000. Past it, making one evicts one not looked up lately, those
	// whose bucket has refilled first (no different from new ones); if
	// none has, the one the sweep reaches: that key may then get up to a
	// bucket more than its rate. A limiter with callers waiting for a
	// token is never evicted.
	MaxKeys int
}

// Registry keeps a limiter per key. It is safe for concurrent use; looking
// up an existing limiter takes no lock.
type Registry struct{ m *keyed.Map[*Limiter] }

// NewRegistry returns a registry described by cfg, or a *config.Error.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	d, err := cfg.Defaults.checked()
	if err != nil {
		return nil, err
	}
	if cfg.MaxKeys < 0 || cfg.MaxKeys > MaxBurst {
		return nil, invalid("MaxKeys", "must be in [0, %d], got %d", MaxBurst, cfg.MaxKeys)
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = defaultMaxKeys
	}
	return &Registry{keyed.New(cfg.MaxKeys, func(key string) *Limiter {
		c := d
		c.Name = key
		return newLimiter(c)
	}, func(l *Limiter) bool { return l.waiting.Load() > 0 },
		func(l *Limiter) bool { return !l.full(l.now()) })}, nil
}

// Get returns the limiter of key, making it if need be.
func (r *Registry) Get(key string) *Limiter { return r.m.Get(key) }

// All returns the limiters kept, sorted by name.
func (r *Registry) All() []*Limiter { return r.m.Values() }
