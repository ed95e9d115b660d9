package bulkhead

import (
	"cmp"

	"github.com/breakwater-go/breakwater/registry"
)

// NewRegistry returns a registry of bulkheads made from defaults, each
// named by its key (a host, a tenant), or a *config.Error. It keeps at
// most maxKeys of them (in [0, 1,000,000]; zero means 1,000) while some
// are idle; one with calls in flight or queued is never evicted, so a
// key's bound holds whatever the pressure.
func NewRegistry(defaults Config, maxKeys int) (*registry.Registry[*Bulkhead], error) {
	d, err := defaults.checked()
	if err != nil {
		return nil, err
	}
	return registry.New(registry.Config[*Bulkhead]{
		MaxKeys: cmp.Or(maxKeys, 1000),
		New: func(key string) *Bulkhead {
			c := d
			c.Name = key
			return newBulkhead(c)
		},
		Held: func(b *Bulkhead) bool { return b.slots.InFlight() > 0 || b.waiting.Load() > 0 },
	})
}
