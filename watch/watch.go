// Package watch keeps the set of policies a metrics exporter reports
// (breakers, retry, hedging and load-shedding policies, admission
// controllers, live configurations), and what it reports of them: List.Add
// takes each, or a registry of them; List.Report reads them all, one entry
// per kind and name. The exporters of this project (bwprom, bwotel) and
// the dashboard are built on it, and so can be anyone's.
//
// Names come from the outside world (a host of a URL) and may repeat (two
// transports calling one host): Report makes them valid UTF-8 and folds
// the policies that share one into a single entry, so that an exporter
// never emits duplicate or invalid series.
package watch

import (
	"sort"

	"strings"
	"sync"

	"github.com/breakwater-go/breakwater/admission"
	"github.com/breakwater-go/breakwater/registry"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/retry"
)

// List is the set an exporter watches. It is safe for concurrent use; its
// zero value is empty and ready.
type List struct {
	mu          sync.Mutex
	registries  []*registry.Registry[*breaker.Breaker]
	breakers    []*breaker.Breaker
	retries     []*retry.Policy
	limiters    []func() []reading // the load-shedding policies, read at each report
	hedges      []*hedge.Policy
	admissions  []*admission.Controller
	configurers []Configurer

	// report serialises the reports, each of which reads every policy
	// once and updates the carried counts with what it read.
	report        sync.Mutex
	circuitsCarry carry[string, counters]
	retriesCarry  carry[string, counters]
	hedgesCarry   carry[string, counters]
	limitersCarry carry[limiterKey, limiterCounts]
}

// counters are a report's counters of one policy, in the order of the
// fields of its entry (a Circuit's seven, a Retry's five, a Hedge's six),
// which carry keeps from falling.
type counters [7]uint64

func (c *counters) add(o counters) {
	for i := range c {
		c[i] += o[i]
	}
}

// addCounts adds o to c's counters.
func (c *Circuit) addCounts(o counters) {
	c.Successes += o[0]
	c.Failures += o[1]
	c.Ignored += o[2]
	c.Rejections += o[3]
	c.SlowCalls += o[4]
	c.Trips += o[5]
	c.StateChanges += o[6]
}

// addCounts adds o to r's counters.
func (r *Retry) addCounts(o counters) {
	r.Calls += o[0]
	r.Retries += o[1]
	r.SucceededAfterRetry += o[2]
	r.Exhausted += o[3]
	r.BudgetDenied += o[4]
}

func countsOf(m breaker.Metrics) counters {
	return counters{m.Successes, m.Failures, m.Ignored, m.Rejections, m.SlowCalls, m.Trips, m.StateChanges}
}

// addRegistry adds every breaker of r, including those created later.
func (l *List) addRegistry(r *registry.Registry[*breaker.Breaker]) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.registries = append(l.registries, r)
}

// addBreaker adds b.
func (l *List) addBreaker(b *breaker.Breaker) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.breakers = append(l.breakers, b)
}

// addRetry adds p.
func (l *List) addRetry(p *retry.Policy) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.retries = append(l.retries, p)
}

// Snapshot returns what the list holds now, each breaker once even if it
// was added both alone and through a registry.
func (l *List) Snapshot() ([]*breaker.Breaker, []*retry.Policy) {
	l.mu.Lock()
	all := append([]*breaker.Breaker(nil), l.breakers...)
	registries := append([]*registry.Registry[*breaker.Breaker](nil), l.registries...)
	retries := append([]*retry.Policy(nil), l.retries...)
	l.mu.Unlock()
	for _, r := range registries {
		all = append(all, r.All()...)
	}
	all = append(all, configuredOf[*breaker.Breaker](l)...)
	retries = append(retries, configuredOf[*retry.Policy](l)...)
	return unique(all), unique(retries)
}

// States returns every breaker state, in the order exporters report them;
// a Circuit's InState is indexed by them.
func States() [5]breaker.State {
	return [5]breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen, breaker.ForcedOpen, breaker.Disabled}
}

// Circuit is what an exporter reports under one name: the breakers that
// share it (two transports calling one host, two registries) are summed,
// so that one name is one series and no breaker is lost.
type Circuit struct {
	// Name is valid UTF-8: names come from the outside world (URL hosts),
	// and invalid bytes are replaced with U+FFFD.
	Name string
	// InState counts the breakers of the name in each state, indexed by
	// breaker.State: for a single breaker, 1 for its state and 0 else.
	InState [5]int
	// Counters summed over the breakers of the name, and over those a
	// registry has evicted while the name still had others: a name's
	// counters never decrease while it is reported.
	Successes, Failures, Ignored, Rejections, SlowCalls, Trips, StateChanges uint64
	// FailureRate is the highest of the breakers' window failure rates.
	FailureRate float64
}

// Retry is what an exporter reports for the retry policies of one name:
// counters summed, BudgetTokens the fewest left in any of their budgets.
type Retry struct {
	Name                                                         string
	Calls, Retries, SucceededAfterRetry, Exhausted, BudgetDenied uint64
	BudgetTokens                                                 float64
}

// ValidName returns name with invalid UTF-8 replaced by U+FFFD, as metric
// label values must be.
func ValidName(name string) string { return strings.ToValidUTF8(name, "\uFFFD") }

// Report is what the policies of a List report at one time: one entry per
// kind and name, each kind sorted by name (limiters by kind, then name).
type Report struct {
	Circuits       []Circuit
	Retries        []Retry
	Hedges         []Hedge
	Limiters       []Limiter
	Admissions     []Admission
	Configurations []Configuration
}

// Report reads every policy of the list once, for an exporter's scrape or
// a page's snapshot. A policy added twice (alone and through a registry)
// is reported once; the counts of one a registry evicted, or a reload
// replaced, stay in its name's while the name has others, so that
// counters never decrease.
func (l *List) Report() Report {
	l.report.Lock()
	defer l.report.Unlock()
	var r Report
	r.Circuits, r.Retries = l.circuitsLocked()
	r.Hedges = l.hedgesLocked()
	r.Limiters = l.limitersLocked()
	r.Admissions = l.admissionsNow()
	r.Configurations = l.configurations()
	return r
}

// circuitsLocked returns one Circuit and one Retry per name, sorted by
// name.
func (l *List) circuitsLocked() ([]Circuit, []Retry) {
	breakers, policies := l.Snapshot()
	now := make(map[any]carried[string, counters], len(breakers))
	circuits := fold(breakers, (*breaker.Breaker).Metrics, func(m breaker.Metrics) string { return m.Name },
		func(name string, _ breaker.Metrics) Circuit { return Circuit{Name: name} },
		func(c *Circuit, b *breaker.Breaker, m breaker.Metrics) {
			if int(m.State) < len(c.InState) {
				c.InState[m.State]++
			}
			counts := countsOf(m)
			c.addCounts(counts)
			c.FailureRate = max(c.FailureRate, m.FailureRate)
			now[b] = carried[string, counters]{c.Name, counts}
		})
	retired := l.circuitsCarry.update(now, (*counters).add)
	for i := range circuits {
		if r, ok := retired[circuits[i].Name]; ok {
			circuits[i].addCounts(r)
		}
	}
	retryNow := make(map[any]carried[string, counters], len(policies))
	retries := fold(policies, (*retry.Policy).Metrics, func(m retry.Metrics) string { return m.Name },
		func(name string, m retry.Metrics) Retry { return Retry{Name: name, BudgetTokens: m.BudgetTokens} },
		func(r *Retry, p *retry.Policy, m retry.Metrics) {
			counts := counters{m.Calls, m.Retries, m.SucceededAfterRetry, m.Exhausted, m.BudgetDenied}
			r.addCounts(counts)
			r.BudgetTokens = min(r.BudgetTokens, m.BudgetTokens)
			retryNow[p] = carried[string, counters]{r.Name, counts}
		})
	retiredRetries := l.retriesCarry.update(retryNow, (*counters).add)
	for i := range retries {
		if r, ok := retiredRetries[retries[i].Name]; ok {
			retries[i].addCounts(r)
		}
	}
	return circuits, retries
}

// fold reads each item's metrics once and folds them into one entry per
// cleaned name, sorted by name.
func fold[I, M, E any](items []I, metrics func(I) M, nameOf func(M) string, start func(string, M) E, add func(*E, I, M)) []E {
	type named struct {
		name string
		item I
		m    M
	}
	all := make([]named, len(items))
	for i, it := range items {
		m := metrics(it)
		all[i] = named{ValidName(nameOf(m)), it, m}
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].name < all[b].name })
	var entries []E
	for i, n := range all {
		if i == 0 || n.name != all[i-1].name {
			entries = append(entries, start(n.name, n.m))
		}
		add(&entries[len(entries)-1], n.item, n.m)
	}
	return entries
}
