package watch

import (
	"sort"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/throttle"
)

// The kinds of load-shedding policy a Limiter reports.
const (
	KindBulkhead  = "bulkhead"
	KindRateLimit = "ratelimit"
	KindThrottle  = "throttle"
	KindAdaptive  = "adaptive"
)

// Limiter is what an exporter reports for the load-shedding policies of
// one kind and name: counters, calls in flight and queued, and limits
// summed over the policies that share the name; Tokens the fewest left,
// Probability the highest.
type Limiter struct {
	Kind string // KindBulkhead, KindRateLimit, KindThrottle or KindAdaptive
	Name string // valid UTF-8, as Circuit.Name
	// Admitted and Rejected count the calls let through and turned away.
	Admitted, Rejected uint64
	// InFlight and Queued are the calls running and waiting now (bulkheads
	// and adaptive limits).
	InFlight, Queued int
	// Limit is the concurrency limit: a bulkhead's MaxConcurrent, an
	// adaptive limit's current one; 0 for the other kinds.
	Limit int
	// Tokens is what a rate limiter's bucket holds now.
	Tokens float64
	// Probability is a throttle's probability of refusing a call now.
	Probability float64
	// Mode is empty for a policy of this process alone; a policy shared
	// with other processes (bwredis.Limiter) says how it decides now:
	// ModeShared, ModeLocal or ModeClosed.
	Mode string `json:",omitempty"`
}

// The modes of a policy shared with other processes.
const (
	ModeShared = "shared" // the shared state decides (Redis answers)
	ModeLocal  = "local"  // the shared state cannot be reached: a local fallback decides for this process
	ModeClosed = "closed" // the shared state cannot be reached, and calls are turned away
)

// Reporter is a load-shedding policy of another package that reports
// itself, such as bwredis's shared rate limit: Report returns one Limiter
// per policy it stands for.
type Reporter interface {
	Report() []Limiter
}

// addReporter adds the policies r reports, at every report. A reporter
// added twice is reported twice.
func (l *List) addReporter(r Reporter) {
	id := new(int) // r itself may not be comparable
	l.addLimiters(func() []reading {
		ls := r.Report()
		out := make([]reading, len(ls))
		for i, m := range ls {
			out[i] = reading{reporterPolicy{id, m.Kind, m.Name}, m}
		}
		return out
	})
}

// reporterPolicy tells apart the policies a Reporter reports.
type reporterPolicy struct {
	added      *int // one per Add of a Reporter
	kind, name string
}

func (l *List) addLimiters(f func() []reading) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limiters = append(l.limiters, f)
}

// configuredLimiters reads the load-shedding policies of the added
// configurations.
func (l *List) configuredLimiters() []reading {
	var out []reading
	for _, p := range l.configured() {
		switch p := p.(type) {
		case *bulkhead.Bulkhead:
			out = append(out, bulkheadReport(p))
		case *ratelimit.Limiter:
			out = append(out, rateLimitReport(p))
		case *throttle.Throttle:
			out = append(out, throttleReport(p))
		case *adaptive.Limiter:
			out = append(out, adaptiveReport(p))
		}
	}
	return out
}

// reading is one policy's report, with the policy, to tell policies added
// twice from policies that share a name.
type reading struct {
	policy any
	Limiter
}

func each[P any](ps []P, report func(P) reading) []reading {
	out := make([]reading, len(ps))
	for i, p := range ps {
		out[i] = report(p)
	}
	return out
}

func bulkheadReport(b *bulkhead.Bulkhead) reading {
	m := b.Metrics()
	return reading{b, Limiter{Kind: KindBulkhead, Name: m.Name, Admitted: m.Admitted, Rejected: m.Rejected,
		InFlight: m.InFlight, Queued: m.Queued, Limit: m.MaxConcurrent}}
}

func rateLimitReport(r *ratelimit.Limiter) reading {
	m := r.Metrics()
	return reading{r, Limiter{Kind: KindRateLimit, Name: m.Name, Admitted: m.Allowed, Rejected: m.Rejected, Tokens: m.Tokens}}
}

func throttleReport(t *throttle.Throttle) reading {
	m := t.Metrics()
	return reading{t, Limiter{Kind: KindThrottle, Name: m.Name, Admitted: m.Admitted, Rejected: m.Throttled, Probability: m.Probability}}
}

func adaptiveReport(a *adaptive.Limiter) reading {
	m := a.Metrics()
	return reading{a, Limiter{Kind: KindAdaptive, Name: m.Name, Admitted: m.Admitted, Rejected: m.Rejected,
		InFlight: m.InFlight, Limit: m.Limit}}
}

// limiterKey names the Limiter a policy is reported in.
type limiterKey struct{ kind, name string }

// limiterCounts are a Limiter's counters.
type limiterCounts struct{ admitted, rejected uint64 }

func (c *limiterCounts) add(o limiterCounts) {
	c.admitted += o.admitted
	c.rejected += o.rejected
}

// limitersLocked returns one Limiter per kind and name, sorted by kind, then
// name. A policy added twice (alone and through a registry) is reported
// once; the counts of one a registry evicted stay in its name's while the
// name has others, so that counters never decrease.
func (l *List) limitersLocked() []Limiter {
	l.mu.Lock()
	sources := append([]func() []reading(nil), l.limiters...)
	l.mu.Unlock()
	sources = append(sources, l.configuredLimiters)
	byKey := map[limiterKey]*Limiter{}
	now := map[any]carried[limiterKey, limiterCounts]{}
	var out []*Limiter
	for _, source := range sources {
		for _, r := range source() {
			if _, seen := now[r.policy]; seen {
				continue
			}
			m := r.Limiter
			m.Name = ValidName(m.Name)
			k := limiterKey{m.Kind, m.Name}
			now[r.policy] = carried[limiterKey, limiterCounts]{k, limiterCounts{m.Admitted, m.Rejected}}
			e := byKey[k]
			if e == nil {
				e = &Limiter{Kind: m.Kind, Name: m.Name, Tokens: m.Tokens, Mode: m.Mode}
				byKey[k] = e
				out = append(out, e)
			}
			e.Admitted += m.Admitted
			e.Rejected += m.Rejected
			e.InFlight += m.InFlight
			e.Queued += m.Queued
			e.Limit += m.Limit
			e.Tokens = min(e.Tokens, m.Tokens)
			e.Probability = max(e.Probability, m.Probability)
			if m.Mode != ModeShared && m.Mode != "" { // a policy that has lost the shared state shows it
				e.Mode = m.Mode
			}
		}
	}
	for k, r := range l.limitersCarry.update(now, (*limiterCounts).add) {
		if e := byKey[k]; e != nil {
			e.Admitted += r.admitted
			e.Rejected += r.rejected
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	result := make([]Limiter, len(out))
	for i, e := range out {
		result[i] = *e
	}
	return result
}
