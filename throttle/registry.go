package throttle

import "github.com/breakwater-go/breakwater/internal/keyed"

// defaultMaxKeys is the bound of a Registry whose MaxKeys is zero.
const defaultMaxKeys = 1000

// RegistryConfig describes a Registry.
type RegistryConfig struct {
	// Defaults is the Config of every throttle the registry makes, each named
	// by its key.
	Defaults Config
	// MaxKeys bounds the throttles kept, for keys from the outside world
	// (hosts, tenants), in [0, 1,000,000]. Past it, making one evicts one
	// not looked up lately, those refusing nothing first. Zero means 1,000.
	MaxKeys int
}

// Registry keeps a throttle per key (a host, a tenant), made on first use from
// shared defaults, up to a bound. It is safe for concurrent use; looking up
// an existing throttle takes no lock.
type Registry struct{ m *keyed.Map[*Throttle] }

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
	return &Registry{keyed.New(cfg.MaxKeys, func(key string) *Throttle {
		c := d
		c.Name = key
		return newThrottle(c)
	}, nil, func(x *Throttle) bool { return x.busy() })}, nil
}

// Get returns the throttle of key, making it if need be.
func (r *Registry) Get(key string) *Throttle { return r.m.Get(key) }

// All returns the throttles kept, sorted by name.
func (r *Registry) All() []*Throttle { return r.m.Values() }
