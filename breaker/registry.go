package breaker

import (
	"cmp"

	"github.com/breakwater-go/breakwater/registry"
)

// NewRegistry returns a registry of breakers made from defaults, each
// named by its key (a service, a host, a route), or a *config.Error. It
// checks defaults once, so Get cannot fail; Add puts a breaker with other
// settings under a key.
//
// It keeps at most maxKeys breakers (in [0, 1,000,000]; zero means
// 1,000). Making one past the bound evicts one: the first idle closed
// breaker in a round-robin sweep (idle: not looked up since the sweep last
// passed it), else, after a round, the first idle one in any state. A
// half-open breaker with probes out is never evicted (a new one beside it
// would probe too): while every breaker is, the registry holds more. An
// evicted breaker is forgotten as by Remove, and so are its metric series;
// its key gets a new closed breaker on next use.
func NewRegistry(defaults Config, maxKeys int) (*registry.Registry[*Breaker], error) {
	s, err := defaults.settings()
	if err != nil {
		return nil, err
	}
	return registry.New(registry.Config[*Breaker]{
		MaxKeys: cmp.Or(maxKeys, 1000),
		New: func(name string) *Breaker {
			s := s
			s.name, s.config.Name = name, name
			return newBreaker(s)
		},
		Held: (*Breaker).probing,
		Busy: func(b *Breaker) bool { return b.State() != Closed },
	})
}

// probing reports a half-open breaker with probes out: evicting it would
// let a fresh breaker of the same name probe beside them.
func (b *Breaker) probing() bool {
	e := b.cur.Load()
	return e.state == HalfOpen && e.probes.Load() > e.passed.Load()+e.failed.Load()
}
