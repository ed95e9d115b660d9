package bwotel_test

import (
	"context"
	"testing"

	"github.com/breakwater-go/breakwater/watch"

	"github.com/breakwater-go/breakwater/bwotel"
	"github.com/breakwater-go/breakwater/internal/churntest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// collected reads a collection's counters of calls, and the names it
// reports.
func collected(t *testing.T, reader sdkmetric.Reader) churntest.Report {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	r := churntest.Report{Series: churntest.Series{}, Circuits: map[string]bool{}, Bulkheads: map[string]bool{}}
	get := func(set attribute.Set, k string) string { v, _ := set.Value(attribute.Key(k)); return v.AsString() }
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case "breakwater.circuit.calls":
				for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
					r.Series[churntest.Key("circuit.calls", get(p.Attributes, "name"), get(p.Attributes, "outcome"))] = float64(p.Value)
				}
			case "breakwater.circuit.state":
				for _, p := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					r.Circuits[get(p.Attributes, "name")] = true
				}
			case "breakwater.limiter.calls":
				for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
					a := p.Attributes
					r.Series[churntest.Key("limiter.calls", get(a, "kind"), get(a, "name"), get(a, "outcome"))] = float64(p.Value)
					if get(a, "kind") == "bulkhead" {
						r.Bulkheads[get(a, "name")] = true
					}
				}
			}
		}
	}
	return r
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
		list := new(watch.List)
		o, err := bwotel.New(mp, list)
		if err != nil {
			t.Fatal(err)
		}
		n := churntest.Run(t, seed, list, func() churntest.Report {
			r := collected(t, cumulative)
			for k, v := range collected(t, delta).Series {
				if v < 0 {
					t.Errorf("seed %d: delta %s is %v", seed, k, v)
				}
			}
			return r
		})
		o.Close()
		mp.Shutdown(context.Background())
		t.Logf("seed %d: %d collections", seed, n)
	}
}
