package bwotel_test

import (
	"context"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/admission"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestAdmissionInstruments(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	_, list := observe(t, reader)
	ac, err := admission.New(admission.Config{Name: "api", Limit: admission.LimitConfig{Min: 2, Max: 2}})
	if err != nil {
		t.Fatal(err)
	}
	list.Add(ac)
	ctx := context.Background()
	p, err := ac.Admit(ctx, admission.Default)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Done(nil)
	past, cancel := context.WithDeadline(ctx, time.Unix(0, 0))
	defer cancel()
	_, _ = ac.Admit(past, admission.Critical)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	name := attribute.String("name", "api")
	for _, c := range []struct {
		metric string
		attrs  []attribute.KeyValue
		want   float64
	}{
		{"breakwater.admission.admitted", []attribute.KeyValue{name, attribute.String("priority", "default")}, 1},
		{"breakwater.admission.shed", []attribute.KeyValue{name, attribute.String("priority", "critical"), attribute.String("reason", "deadline")}, 1},
		{"breakwater.admission.limit", []attribute.KeyValue{name}, 2},
		{"breakwater.admission.in_flight", []attribute.KeyValue{name}, 1},
	} {
		if v := point(t, rm, c.metric, c.attrs...); v != c.want {
			t.Errorf("%s = %v, want %v", c.metric, v, c.want)
		}
	}
}
