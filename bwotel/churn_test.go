package bwotel_test

import (
	"context"
	"sync"
	"testing"

	"github.com/breakwater-go/breakwater/bwotel"
	"github.com/breakwater-go/breakwater/internal/churntest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// collected reads a collection's counters of calls, and the names it
// reports.
func collected(t *testing.T, reader sdkmetric.Reader) (churntest.Series, map[string]bool, map[string]bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	s := churntest.Series{}
	circuits, bulkheads := map[string]bool{}, map[string]bool{}
	get := func(set attribute.Set, k string) string { v, _ := set.Value(attribute.Key(k)); return v.AsString() }
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case "breakwater.circuit.calls":
				for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
					s[churntest.Key("circuit.calls", get(p.Attributes, "name"), get(p.Attributes, "outcome"))] = float64(p.Value)
				}
			case "breakwater.circuit.state":
				for _, p := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					circuits[get(p.Attributes, "name")] = true
				}
			case "breakwater.limiter.calls":
				for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
					a := p.Attributes
					s[churntest.Key("limiter.calls", get(a, "kind"), get(a, "name"), get(a, "outcome"))] = float64(p.Value)
					if get(a, "kind") == "bulkhead" {
						bulkheads[get(a, "name")] = true
					}
				}
			}
		}
	}
	return s, circuits, bulkheads
}

// Policies churn (made, watched, evicted, made again under the same name,
// watched twice, shared between registries) while the SDK collects, with
// cumulative and delta readers: no cumulative counter ever decreases, no
// delta is negative, and at each pause the series are exactly the live
// policies', each counted once.
func TestCollectionsOfChurningPolicies(t *testing.T) {
	for seed := range uint64(4) {
		cumulative := sdkmetric.NewManualReader()
		delta := sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality {
			return metricdata.DeltaTemporality
		}))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(cumulative), sdkmetric.WithReader(delta))
		o, err := bwotel.New(mp)
		if err != nil {
			t.Fatal(err)
		}
		world := churntest.New(seed, o)
		collections := 0
		var last churntest.Series
		check := func(s churntest.Series) {
			for _, fell := range churntest.Monotonic(last, s) {
				t.Errorf("seed %d, collection %d: %s", seed, collections, fell)
			}
			last = s
			d, _, _ := collected(t, delta)
			for k, v := range d {
				if v < 0 {
					t.Errorf("seed %d, collection %d: delta %s is %v", seed, collections, k, v)
				}
			}
			collections++
		}
		for round := range 10 {
			var wg sync.WaitGroup
			wg.Go(func() {
				for range 200 {
					world.Step(o)
				}
			})
			for range 5 {
				s, _, _ := collected(t, cumulative)
				check(s)
			}
			wg.Wait()
			s, circuits, bulkheads := collected(t, cumulative)
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
				if got, m := s[churntest.Key("circuit.calls", b.Name(), "success")], b.Metrics(); got != float64(m.Successes) {
					t.Errorf("seed %d: %s reports %v successes, its breaker counted %d", seed, b.Name(), got, m.Successes)
				}
			}
			if t.Failed() {
				break
			}
		}
		o.Close()
		mp.Shutdown(context.Background())
		t.Logf("seed %d: %d collections", seed, collections)
	}
}
