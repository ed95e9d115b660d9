package bwotel_test

import (
	"context"
	"errors"
	"testing"

	"github.com/breakwater-go/breakwater/watch"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwotel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Breakers sharing a name are one series, summed; a name with invalid
// UTF-8 is cleaned, in the observable instruments and the histogram alike.
func TestSharedAndInvalidNames(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	list := new(watch.List)
	o, err := bwotel.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), list)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	a, _ := breaker.New(breaker.Config{Name: "api.example"})
	b, _ := breaker.New(breaker.Config{Name: "api.example"})
	bad, _ := breaker.New(breaker.Config{Name: "bad\xffhost", Hooks: o.BreakerHooks()})
	for _, x := range []*breaker.Breaker{a, b, bad} {
		list.Add(x)
	}
	ctx := context.Background()
	_ = a.Do(ctx, func(context.Context) error { return nil })
	_ = b.Do(ctx, func(context.Context) error { return errors.New("x") })
	_ = bad.Do(ctx, func(context.Context) error { return nil })
	b.Trip()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	name := attribute.String("name", "api.example")
	if got := point(t, rm, "breakwater.circuit.calls", name, attribute.String("outcome", "success")); got != 1 {
		t.Errorf("successes = %v", got)
	}
	if got := point(t, rm, "breakwater.circuit.calls", name, attribute.String("outcome", "failure")); got != 1 {
		t.Errorf("failures = %v", got)
	}
	if got := point(t, rm, "breakwater.circuit.state", name, attribute.String("state", "open")); got != 1 {
		t.Errorf("open = %v", got)
	}
	clean := attribute.String("name", "bad\uFFFDhost")
	if got := point(t, rm, "breakwater.circuit.call.duration", clean, attribute.String("outcome", "success")); got != 1 {
		t.Errorf("histogram count = %v", got)
	}
	point(t, rm, "breakwater.circuit.trips", clean)
}
