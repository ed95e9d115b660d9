package adaptive

import (
	"cmp"

	"github.com/breakwater-go/breakwater/registry"
)

// NewRegistry returns a registry of limiters made from defaults, each
// named by its key (a host, a tenant), or a *config.Error. It keeps at
// most maxKeys of them (in [0, 1,000,000]; zero means 1,000) while some
// are idle; one with calls in flight is never evicted, so a key's limit
// holds whatever the pressure.
func NewRegistry(defaults Config, maxKeys int) (*registry.Registry[*Limiter], error) {
	d, err := defaults.checked()
	if err != nil {
		return nil, err
	}
	return registry.New(registry.Config[*Limiter]{
		MaxKeys: cmp.Or(maxKeys, 1000),
		New: func(key string) *Limiter {
			c := d
			c.Name = key
			return newLimiter(c)
		},
		Held: func(l *Limiter) bool { return l.slots.InFlight() > 0 },
	})
}
