package watch

import (
	"slices"
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

// addHedge adds p.
func (l *List) addHedge(p *hedge.Policy) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hedges = append(l.hedges, p)
}

// hedgesLocked returns one Hedge per name, sorted by name; a policy added twice
// is reported once. A name's counters never decrease while it is
// reported, as a Circuit's.
func (l *List) hedgesLocked() []Hedge {
	l.mu.Lock()
	policies := slices.Clone(l.hedges)
	l.mu.Unlock()
	policies = unique(append(policies, configuredOf[*hedge.Policy](l)...))
	now := make(map[any]carried[string, counters], len(policies))
	hedges := fold(policies, (*hedge.Policy).Metrics, func(m hedge.Metrics) string { return m.Name },
		func(name string, _ hedge.Metrics) Hedge { return Hedge{Name: name} },
		func(h *Hedge, p *hedge.Policy, m hedge.Metrics) {
			counts := counters{m.Calls, m.Hedges, m.Won, m.Cancelled, m.BudgetDenied, m.Rejected}
			h.addCounts(counts)
			h.Delay = max(h.Delay, m.Delay)
			now[p] = carried[string, counters]{h.Name, counts}
		})
	retired := l.hedgesCarry.update(now, (*counters).add)
	for i := range hedges {
		if r, ok := retired[hedges[i].Name]; ok {
			hedges[i].addCounts(r)
		}
	}
	return hedges
}

// addCounts adds o to h's counters.
func (h *Hedge) addCounts(o counters) {
	h.Calls += o[0]
	h.Hedges += o[1]
	h.Won += o[2]
	h.Cancelled += o[3]
	h.BudgetDenied += o[4]
	h.Rejected += o[5]
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
