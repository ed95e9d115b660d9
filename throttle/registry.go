package throttle

import (
	"cmp"

	"github.com/breakwater-go/breakwater/registry"
)

// NewRegistry returns a registry of throttles made from defaults, each
// named by its key (a host, a tenant), or a *config.Error. It keeps at
// most maxKeys of them (in [0, 1,000,000]; zero means 1,000) while some
// are idle, evicting those refusing nothing first.
func NewRegistry(defaults Config, maxKeys int) (*registry.Registry[*Throttle], error) {
	d, err := defaults.checked()
	if err != nil {
		return nil, err
	}
	return registry.New(registry.Config[*Throttle]{
		MaxKeys: cmp.Or(maxKeys, 1000),
		New: func(key string) *Throttle {
			c := d
			c.Name = key
			return newThrottle(c)
		},
		Busy: (*Throttle).busy,
	})
}
