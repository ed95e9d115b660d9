package bwprom_test

import (
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/breakwater-go/breakwater/bwprom"
	"github.com/breakwater-go/breakwater/internal/churntest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// series reads a scrape's counters of calls, and the names it reports.
func series(families map[string]*dto.MetricFamily) (churntest.Series, map[string]bool, map[string]bool) {
	s := churntest.Series{}
	circuits, bulkheads := map[string]bool{}, map[string]bool{}
	label := func(m *dto.Metric, name string) string {
		for _, l := range m.Label {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	if f := families["breakwater_circuit_calls_total"]; f != nil {
		for _, m := range f.Metric {
			s[churntest.Key("circuit.calls", label(m, "name"), label(m, "outcome"))] = m.Counter.GetValue()
			circuits[label(m, "name")] = true
		}
	}
	if f := families["breakwater_limiter_calls_total"]; f != nil {
		for _, m := range f.Metric {
			s[churntest.Key("limiter.calls", label(m, "kind"), label(m, "name"), label(m, "outcome"))] = m.Counter.GetValue()
			if label(m, "kind") == "bulkhead" {
				bulkheads[label(m, "name")] = true
			}
		}
	}
	return s, circuits, bulkheads
}

// Policies churn (made, watched, evicted, made again under the same name,
// watched twice, shared between registries) while Prometheus scrapes a
// real server: no counter ever decreases, and at each pause the series
// are exactly the live policies', each counted once.
func TestScrapesOfChurningPolicies(t *testing.T) {
	for seed := range uint64(4) {
		c := bwprom.NewCollector()
		world := churntest.New(seed, c)
		reg := prometheus.NewRegistry()
		reg.MustRegister(c)
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		scrapes := 0
		var last churntest.Series
		check := func(s churntest.Series) {
			for _, fell := range churntest.Monotonic(last, s) {
				t.Errorf("seed %d, scrape %d: %s", seed, scrapes, fell)
			}
			last = s
			scrapes++
		}
		for round := range 10 {
			var wg sync.WaitGroup
			wg.Go(func() {
				for range 200 {
					world.Step(c)
				}
			})
			for range 5 { // scrapes while the policies churn
				s, _, _ := series(scrape(t, srv.URL))
				check(s)
			}
			wg.Wait()
			s, circuits, bulkheads := series(scrape(t, srv.URL))
			check(s)
			if want := world.LiveCircuits(); !churntest.SameNames(circuits, want) {
				t.Errorf("seed %d, round %d: circuits reported %v, live %v", seed, round, circuits, want)
			}
			if want := world.LiveBulkheads(); !churntest.SameNames(bulkheads, want) {
				t.Errorf("seed %d, round %d: bulkheads reported %v, live %v", seed, round, bulkheads, want)
			}
			for name := range circuits {
				if got, most := s[churntest.Key("circuit.calls", name, "success")], world.Succeeded(name); most > 0 && got > most {
					t.Errorf("seed %d: %s reports %v successes, more than the %v made: counted twice", seed, name, got, most)
				}
			}
			for _, b := range world.Solo() {
				m := b.Metrics()
				if got := s[churntest.Key("circuit.calls", b.Name(), "success")]; got != float64(m.Successes) {
					t.Errorf("seed %d: %s reports %v successes, its breaker counted %d", seed, b.Name(), got, m.Successes)
				}
			}
			if t.Failed() {
				break
			}
		}
		srv.Close()
		t.Logf("seed %d: %d scrapes", seed, scrapes)
	}
}
