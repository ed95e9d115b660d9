package bwotel_test

import (
	"context"
	"testing"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/bulkhead"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestLimiterInstruments(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	_, list := observe(t, reader)
	bulkheads, _ := bulkhead.NewRegistry(bulkhead.Config{MaxConcurrent: 1}, 0)
	list.Add(breakwater.Shedding{Bulkheads: bulkheads})
	limit, _ := adaptive.New(adaptive.Config{Name: "a", InitialLimit: 9})
	list.Add(limit)

	ctx := context.Background()
	b := bulkheads.Get("api")
	slot, _ := b.Allow(ctx)
	defer slot.Done(nil)
	_, _ = b.Allow(ctx) // full
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	bh := []attribute.KeyValue{attribute.String("kind", "bulkhead"), attribute.String("name", "api")}
	if v := point(t, rm, "breakwater.limiter.calls", append(bh, attribute.String("outcome", "rejected"))...); v != 1 {
		t.Errorf("rejected = %v, want 1", v)
	}
	if v := point(t, rm, "breakwater.limiter.in_flight", bh...); v != 1 {
		t.Errorf("in flight = %v, want 1", v)
	}
	if v := point(t, rm, "breakwater.limiter.limit", attribute.String("kind", "adaptive"), attribute.String("name", "a")); v != 9 {
		t.Errorf("adaptive limit = %v, want 9", v)
	}
}
