package sim

import "time"

// Anchor is another system's retry budget, replayed in the simulator so
// that Breakwater's policies can be compared with it. Its rules are the
// published ones; the implementations are the simulator's.
type Anchor interface {
	// Name is the anchor's name and formula, for tables.
	Name() string
	fresh() Anchor // a new, empty budget of the same rule
	request(now time.Duration)
	// allowRetry reports whether a retry may be sent now, with inFlight
	// attempts in flight of which retries are retries, and takes it.
	allowRetry(now time.Duration, inFlight, retries int) bool
}

// EnvoyBudget is Envoy's retry budget: retries in flight may be at most
// Percent of the requests in flight (active and pending), and never fewer
// than MinConcurrency. Envoy's defaults: 20 % and 3.
type EnvoyBudget struct {
	Percent        float64
	MinConcurrency int
}

// Name returns the rule.
func (e EnvoyBudget) Name() string { return "Envoy retry budget (20 % of in flight, min 3)" }

func (e EnvoyBudget) fresh() Anchor             { return e }
func (e EnvoyBudget) request(now time.Duration) {}

func (e EnvoyBudget) allowRetry(_ time.Duration, inFlight, retries int) bool {
	return float64(retries) < max(float64(e.MinConcurrency), e.Percent*float64(inFlight))
}

// FinagleBudget is Finagle's (and Linkerd's) RetryBudget: over the last
// TTL, retries may be at most Percent of the requests plus MinPerSecond a
// second. Finagle's defaults: 20 %, 10 a second, 10 s.
type FinagleBudget struct {
	Percent      float64
	MinPerSecond float64
	TTL          time.Duration

	requests, retries []time.Duration // within the last TTL, oldest first
}

// Name returns the rule.
func (f *FinagleBudget) Name() string { return "Finagle retry budget (20 % + 10/s over 10 s)" }

func (f *FinagleBudget) fresh() Anchor {
	return &FinagleBudget{Percent: f.Percent, MinPerSecond: f.MinPerSecond, TTL: f.TTL}
}

func (f *FinagleBudget) request(now time.Duration) {
	f.requests = append(expire(f.requests, now-f.TTL), now)
}

func (f *FinagleBudget) allowRetry(now time.Duration, _, _ int) bool {
	f.requests = expire(f.requests, now-f.TTL)
	f.retries = expire(f.retries, now-f.TTL)
	if float64(len(f.retries)+1) > f.Percent*float64(len(f.requests))+f.MinPerSecond*f.TTL.Seconds() {
		return false
	}
	f.retries = append(f.retries, now)
	return true
}

// expire drops the times before from.
func expire(ts []time.Duration, from time.Duration) []time.Duration {
	i := 0
	for i < len(ts) && ts[i] < from {
		i++
	}
	return ts[i:]
}
