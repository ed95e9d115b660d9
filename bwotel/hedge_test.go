package bwotel_test

import (
	"context"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/hedge"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestHedgeInstruments(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	_, list := observe(t, reader)
	p, _ := hedge.New(hedge.Config{Name: "search", Delay: 25 * time.Millisecond})
	list.Add(p)
	ctx := context.Background()
	_ = p.Do(ctx, func(context.Context) error { return nil })

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	name := attribute.String("name", "search")
	if v := point(t, rm, "breakwater.hedge.calls", name); v != 1 {
		t.Errorf("calls = %v, want 1", v)
	}
	if v := point(t, rm, "breakwater.hedge.hedges", name); v != 0 {
		t.Errorf("hedges = %v, want 0", v)
	}
	if v := point(t, rm, "breakwater.hedge.delay", name); v != 0.025 {
		t.Errorf("delay = %v, want 0.025", v)
	}
}
