package bulkhead

import "github.com/breakwater-go/breakwater/internal/keyed"

// defaultMaxKeys is the bound of a Registry whose MaxKeys is zero.
const defaultMaxKeys = 1000

// RegistryConfig describes a Registry.
type RegistryConfig struct {
	// Defaults is the Config of every bulkhead the registry makes, each named
	// by its key.
	Defaults Config
	// MaxKeys bounds the bulkheads kept, for keys from the outside world
	// (hosts, tenants), in [0, 1,000,000]. Past it, making one evicts one
	// not looked up lately. One with calls in flight (or queued) is never
	// evicted, so a key's bound holds whatever the pressure: while all
	// have calls in flight the registry holds more. Zero means 1,000.
	MaxKeys int
}

// Registry keeps a bulkhead per key (a host, a tenant), made on first use from
// shared defaults, up to a bound. It is safe for concurrent use; looking up
// an existing bulkhead takes no lock.
type Registry struct{ m *keyed.Map[*Bulkhead] }

// NewRegistry returns a registry described by cfg, or a *config.Error. It
// checks cfg once, so Get cannot fail.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	d, err := cfg.Defaults.checked()
	if err != nil {
		return nil, err
	}
	if cfg.MaxKeys < 0 || cfg.MaxKeys > 1_000_000 {
		return nil, invalid("MaxKeys", "must be in [0, 1000000], got %d", cfg.MaxKeys)
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = defaultMaxKeys
	}
	return &Registry{keyed.New(cfg.MaxKeys, func(key string) *Bulkhead {
		c := d
		c.Name = key
		return newBulkhead(c)
	}, func(x *Bulkhead) bool { return x.slots.InFlight() > 0 || x.waiting.Load() > 0 }, nil)}, nil
}

// Get returns the bulkhead of key, making it if need be.
func (r *Registry) Get(key string) *Bulkhead { return r.m.Get(key) }

// All returns the bulkheads kept, sorted by name.
func (r *Registry) All() []*Bulkhead { return r.m.Values() }
