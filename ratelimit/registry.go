package ratelimit

import (
	"cmp"

	"github.com/breakwater-go/breakwater/registry"
)

// NewRegistry returns a registry of limiters made from defaults, each
// named by its key (a client address, a host), or a *config.Error. It
// keeps at most maxKeys of them (in [0, 1,000,000]; zero means 10,000)
// while some are idle, evicting those whose bucket has refilled first (no
// different from new ones); if none has, the one the sweep reaches: that
// key may then get up to a bucket more than its rate. A limiter with
// callers waiting for a token is never evicted.
func NewRegistry(defaults Config, maxKeys int) (*registry.Registry[*Limiter], error) {
	d, err := defaults.checked()
	if err != nil {
		return nil, err
	}
	return registry.New(registry.Config[*Limiter]{
		MaxKeys: cmp.Or(maxKeys, 10_000),
		New: func(key string) *Limiter {
			c := d
			c.Name = key
			return newLimiter(c)
		},
		Held: func(l *Limiter) bool { return l.waiting.Load() > 0 },
		Busy: func(l *Limiter) bool { return !l.full(l.now()) },
	})
}
