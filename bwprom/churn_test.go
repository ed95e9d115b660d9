package bwprom_test

import (
	"net/http/httptest"
	"testing"

	"github.com/breakwater-go/breakwater/watch"

	"github.com/breakwater-go/breakwater/bwprom"
	"github.com/breakwater-go/breakwater/internal/churntest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// report reads a scrape's counters of calls, and the names it reports.
func report(families map[string]*dto.MetricFamily) churntest.Report {
	r := churntest.Report{Series: churntest.Series{}, Circuits: map[string]bool{}, Bulkheads: map[string]bool{}}
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
			r.Series[churntest.Key("circuit.calls", label(m, "name"), label(m, "outcome"))] = m.Counter.GetValue()
			r.Circuits[label(m, "name")] = true
		}
	}
	if f := families["breakwater_limiter_calls_total"]; f != nil {
		for _, m := range f.Metric {
			r.Series[churntest.Key("limiter.calls", label(m, "kind"), label(m, "name"), label(m, "outcome"))] = m.Counter.GetValue()
			if label(m, "kind") == "bulkhead" {
				r.Bulkheads[label(m, "name")] = true
			}
		}
	}
	return r
}

// Policies churn (made, watched, evicted, made again under the same name,
// watched twice, shared between registries) while Prometheus scrapes a
// real server: no counter ever decreases, and at each pause the series
// are exactly the live policies', each counted once.
func TestScrapesOfChurningPolicies(t *testing.T) {
	for seed := range uint64(4) {
		list := new(watch.List)
		c := bwprom.NewCollector(list)
		reg := prometheus.NewRegistry()
		reg.MustRegister(c)
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		n := churntest.Run(t, seed, list, func() churntest.Report { return report(scrape(t, srv.URL)) })
		srv.Close()
		t.Logf("seed %d: %d scrapes", seed, n)
	}
}
