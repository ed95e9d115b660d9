package watch

import (
	"time"

	"github.com/breakwater-go/breakwater/hedge"
)

// Hedge is what an exporter reports for the hedging policies of one name:
// counters summed, Delay the longest of their current delays.
type Hedge struct {
	Name string // valid UTF-8, as Circuit.Name
	// Calls, Hedges, Won, Cancelled, BudgetDenied and Rejected are
	// hedge.Metrics' counters.
	Calls, Hedges, Won, Cancelled, BudgetDenied, Rejected uint64
	// Delay is how long a call waits now before its first hedge.
	Delay time.Duration
}

// AddHedge adds p.
func (l *List) AddHedge(p *hedge.Policy) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hedges = append(l.hedges, p)
}

// Hedges returns one Hedge per name, sorted by name; a policy added twice
// is reported once.
func (l *List) Hedges() []Hedge {
	l.mu.Lock()
	policies := unique(l.hedges)
	l.mu.Unlock()
	return fold(policies, (*hedge.Policy).Metrics, func(m hedge.Metrics) string { return m.Name },
		func(name string, _ hedge.Metrics) Hedge { return Hedge{Name: name} },
		func(h *Hedge, _ *hedge.Policy, m hedge.Metrics) {
			h.Calls += m.Calls
			h.Hedges += m.Hedges
			h.Won += m.Won
			h.Cancelled += m.Cancelled
			h.BudgetDenied += m.BudgetDenied
			h.Rejected += m.Rejected
			h.Delay = max(h.Delay, m.Delay)
		})
}

// unique returns ps without repeats, in a new slice.
func unique[P comparable](ps []P) []P {
	seen := make(map[P]bool, len(ps))
	out := make([]P, 0, len(ps))
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
