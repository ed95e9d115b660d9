package breakwater

import (
	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/registry"
	"github.com/breakwater-go/breakwater/throttle"
)

// Shedding is the load shedding an integration (bwhttp, bwgrpc) puts in
// front of each key it calls (a host, a gRPC target): a registry per kind
// of policy, each making one policy per key, each nil when unused. The
// zero Shedding sheds nothing.
type Shedding struct {
	// Throttles refuse calls locally in proportion to what the key's
	// dependency refuses.
	Throttles *registry.Registry[*throttle.Throttle]
	// RateLimits bound the rate of calls to each key.
	RateLimits *registry.Registry[*ratelimit.Limiter]
	// Bulkheads bound the calls to each key in flight at once.
	Bulkheads *registry.Registry[*bulkhead.Bulkhead]
	// Adaptive bound the calls to each key in flight at once by a limit
	// found from their latency.
	Adaptive *registry.Registry[*adaptive.Limiter]
}

// Policies returns key's policies, outermost first, in the order that
// makes each judge only what is its own: the throttle, so that a call it
// sheds costs no token and no slot; the rate limit, which may wait for a
// token holding nothing; the bulkhead, a hard bound; the adaptive limit,
// innermost so that the latency it samples is the dependency's alone,
// never time queued in the bulkhead. What one turns away is a rejection
// (Rejected() is true), which the others count as neither success nor
// failure.
func (s Shedding) Policies(key string) []any {
	var ps []any
	if s.Throttles != nil {
		ps = append(ps, s.Throttles.Get(key))
	}
	if s.RateLimits != nil {
		ps = append(ps, s.RateLimits.Get(key))
	}
	if s.Bulkheads != nil {
		ps = append(ps, s.Bulkheads.Get(key))
	}
	if s.Adaptive != nil {
		ps = append(ps, s.Adaptive.Get(key))
	}
	return ps
}
