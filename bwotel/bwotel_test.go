package bwotel_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/breakwater-go/breakwater/watch"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwotel"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/retry"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// observe returns an Observer on a new MeterProvider read by reader; both
// are closed with the test.
func observe(t *testing.T, reader sdkmetric.Reader) (*bwotel.Observer, *watch.List) {
	t.Helper()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	list := new(watch.List)
	o, err := bwotel.New(mp, list)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o, list
}

// point finds the data point of instrument name whose attributes include
// want, and returns its value (a histogram's count).
func point(t *testing.T, rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) float64 {
	t.Helper()
	has := func(set attribute.Set) bool {
		for _, kv := range want {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if has(p.Attributes) {
						return float64(p.Value)
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					if has(p.Attributes) {
						return float64(p.Value)
					}
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					if has(p.Attributes) {
						return p.Value
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if has(p.Attributes) {
						return float64(p.Count)
					}
				}
			}
		}
	}
	t.Fatalf("no point of %s with %v", name, want)
	return 0
}

func TestManualReaderSeesATripAndARecovery(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	o, list := observe(t, reader)

	clk := clocktest.NewFake(time.Time{})
	b, _ := breaker.New(breaker.Config{Name: "ledger", Trip: breaker.Consecutive(1), Clock: clk, Hooks: o.BreakerHooks()})
	list.Add(b)
	r, _ := retry.New(retry.Config{Name: "ledger-retry", MaxAttempts: 2, Clock: clk, Jitter: retry.JitterNone})
	list.Add(r)

	ctx := context.Background()
	clk.Drive(func() {
		r.Do(ctx, func(ctx context.Context) error {
			return b.Do(ctx, func(context.Context) error { return errors.New("down") })
		})
	})
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	name := attribute.String("name", "ledger")
	if v := point(t, rm, "breakwater.circuit.state", name, attribute.String("state", "open")); v != 1 {
		t.Errorf("open = %v", v)
	}
	if v := point(t, rm, "breakwater.circuit.calls", name, attribute.String("outcome", "failure")); v != 1 {
		t.Errorf("failures = %v", v)
	}
	if v := point(t, rm, "breakwater.circuit.calls", name, attribute.String("outcome", "rejected")); v != 1 {
		t.Errorf("rejections = %v: the retry meets the open circuit once, and stops", v)
	}
	if v := point(t, rm, "breakwater.circuit.trips", name); v != 1 {
		t.Errorf("trips = %v", v)
	}
	if v := point(t, rm, "breakwater.retry.calls", attribute.String("name", "ledger-retry")); v != 1 {
		t.Errorf("retry calls = %v", v)
	}

	clk.Advance(30 * time.Second)
	b.Do(ctx, func(context.Context) error { return nil })
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	if v := point(t, rm, "breakwater.circuit.state", name, attribute.String("state", "closed")); v != 1 {
		t.Errorf("closed = %v after recovery", v)
	}
	if v := point(t, rm, "breakwater.circuit.state_changes", name); v != 3 {
		t.Errorf("state changes = %v", v)
	}
	if v := point(t, rm, "breakwater.circuit.call.duration", name, attribute.String("outcome", "success")); v != 1 {
		t.Errorf("duration samples = %v", v)
	}
}

func TestNilArguments(t *testing.T) {
	if _, err := bwotel.New(nil, new(watch.List)); err == nil {
		t.Fatal("New of a nil MeterProvider accepted")
	}
	if _, err := bwotel.New(noop.NewMeterProvider(), nil); err == nil {
		t.Fatal("New of a nil watch.List accepted")
	}
}

// The duration histogram's boundaries are in seconds and reach below a
// millisecond: with the SDK's default boundaries (0, 5, 10, … 10,000, made
// for milliseconds) every call under 5 s landed in one bucket.
func TestDurationBoundariesResolveFastCalls(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	o, _ := observe(t, reader)
	clk := clocktest.NewFake(time.Time{})
	b, _ := breaker.New(breaker.Config{Name: "cache", Clock: clk, Hooks: o.BreakerHooks()})
	for _, d := range []time.Duration{100 * time.Microsecond, 4 * time.Millisecond, 20 * time.Second} {
		b.Do(context.Background(), func(context.Context) error { clk.Advance(d); return nil })
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "breakwater.circuit.call.duration" {
				continue
			}
			if m.Unit != "s" {
				t.Errorf("unit %q, want s", m.Unit)
			}
			p := m.Data.(metricdata.Histogram[float64]).DataPoints[0]
			filled := 0
			for _, n := range p.BucketCounts {
				if n > 0 {
					filled++
				}
			}
			if filled != 3 || p.Bounds[0] > 0.0001 {
				t.Fatalf("3 calls of 100 µs, 4 ms and 20 s fill %d buckets of %v; want 3", filled, p.Bounds)
			}
			return
		}
	}
	t.Fatal("no duration histogram")
}

// overflowed reports whether instrument name sent any series into the
// SDK's overflow series.
func overflowed(rm metricdata.ResourceMetrics, name string) (series int, overflow bool) {
	over := attribute.Bool("otel.metric.overflow", true)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			var sets []attribute.Set
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			}
			for _, s := range sets {
				if v, ok := s.Value(over.Key); ok && v == over.Value {
					overflow = true
				}
			}
			series += len(sets)
		}
	}
	return series, overflow
}

// With the defaults on both sides (a registry of 1,000 breakers, the
// SDK's limit of 2,000 series per instrument), no breaker is sent into
// the overflow series. (Before, at 4-5 series a breaker, 500-600 were.)
func TestDefaultsFitTheSDKsCardinalityLimit(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	o, list := observe(t, reader)
	reg, _ := breaker.NewRegistry(breaker.Config{Hooks: o.BreakerHooks()}, 0)
	list.Add(reg)
	for i := range maxKeys {
		b := reg.Get(fmt.Sprintf("host-%04d", i))
		b.Do(context.Background(), func(context.Context) error { return nil })
		if i%10 == 0 { // a tenth of them failing too
			b.Do(context.Background(), func(context.Context) error { return errors.New("503") })
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"breakwater.circuit.state", "breakwater.circuit.calls", "breakwater.circuit.call.duration"} {
		series, over := overflowed(rm, name)
		t.Logf("%s: %d series for %d breakers", name, series, maxKeys)
		if over {
			t.Errorf("%s: breakers sent into the overflow series", name)
		}
	}
}

// With delta temporality, as the package doc advises where breakers
// churn, the duration histogram forgets the series of breakers that no
// longer record: a registry of 100 that has seen 2,000 names sends no
// live breaker into overflow.
func TestDeltaTemporalityForgetsChurnedHistogramSeries(t *testing.T) {
	reader := sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality {
		return metricdata.DeltaTemporality
	}))
	o, list := observe(t, reader)
	reg, _ := breaker.NewRegistry(breaker.Config{Hooks: o.BreakerHooks()}, 100)
	list.Add(reg)
	var rm metricdata.ResourceMetrics
	for round := range 20 {
		for i := range 100 {
			reg.Get(fmt.Sprintf("host-%d-%d", round, i)).Do(context.Background(), func(context.Context) error { return nil })
		}
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
	}
	if series, over := overflowed(rm, "breakwater.circuit.call.duration"); series != 100 || over {
		t.Fatalf("after 2,000 names through a registry of 100: %d histogram series, overflow %v; want 100", series, over)
	}
}

// maxKeys is the default bound of breaker.NewRegistry.
const maxKeys = 1000
