package bwotel_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwotel"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/retry"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The hooks record, on the caller's span, each retry, the trip its
// failure causes, the give-up, a later rejection (not retried: no
// give-up), and a hedge that wins,
// as the SDK's in-memory exporter sees them.
func TestSpanEvents(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer tp.Shutdown(context.Background())
	tracer := tp.Tracer("test")

	b, _ := breaker.New(breaker.Config{Name: "prices", Trip: breaker.Consecutive(2), OpenDuration: time.Minute, Hooks: bwotel.BreakerSpanHooks()})
	r, _ := retry.New(retry.Config{Name: "prices", MaxAttempts: 3, Delay: time.Nanosecond, Jitter: retry.JitterNone, Hooks: bwotel.RetrySpanHooks()})
	failing := func(context.Context) error { return errors.New("503") }

	ctx, span := tracer.Start(context.Background(), "checkout")
	_ = breakwater.Do(ctx, failing, r, b) // fails, retries, trips, stops
	_ = breakwater.Do(ctx, failing, r, b) // rejected at once
	span.End()

	clk := clocktest.NewFake(time.Unix(0, 0))
	h, _ := hedge.New(hedge.Config{Name: "search", Delay: 20 * time.Millisecond, Clock: clk, Hooks: bwotel.HedgeSpanHooks()})
	hctx, hspan := tracer.Start(context.Background(), "search")
	var attempts atomic.Int32
	done := make(chan error, 1)
	first := make(chan struct{})
	go func() {
		done <- h.Do(hctx, func(ctx context.Context) error {
			if attempts.Add(1) == 1 {
				close(first) // the call's own attempt: no hedge starts before the clock moves
				<-ctx.Done()
			}
			return nil
		})
	}()
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	<-first // the slow attempt is the call's own, the winner the hedge
	if err := clk.WaitForTimers(wctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(20 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	hspan.End()

	spans := exporter.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	type event struct {
		name  string
		attrs map[attribute.Key]string
	}
	var got [][]event
	for _, s := range spans {
		var evs []event
		for _, e := range s.Events {
			m := map[attribute.Key]string{}
			for _, a := range e.Attributes {
				m[a.Key] = a.Value.String()
			}
			evs = append(evs, event{e.Name, m})
		}
		got = append(got, evs)
	}
	want := [][]event{{
		{bwotel.EventRetry, map[attribute.Key]string{bwotel.AttrRetry: "prices", bwotel.AttrAttempt: "1", bwotel.AttrError: "503"}},
		{bwotel.EventStateChange, map[attribute.Key]string{bwotel.AttrCircuit: "prices", bwotel.AttrFrom: "closed", bwotel.AttrTo: "open"}},
		{bwotel.EventGiveUp, map[attribute.Key]string{bwotel.AttrRetry: "prices", bwotel.AttrAttempts: "2"}},
		{bwotel.EventRejected, map[attribute.Key]string{bwotel.AttrCircuit: "prices", bwotel.AttrState: "open"}},
	}, {
		{bwotel.EventHedge, map[attribute.Key]string{bwotel.AttrHedge: "search", bwotel.AttrNumber: "1", bwotel.AttrAfter: "20"}},
		{bwotel.EventHedgeWon, map[attribute.Key]string{bwotel.AttrHedge: "search", bwotel.AttrNumber: "1"}},
	}}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("span %q: events %+v\nwant %+v", spans[i].Name, got[i], want[i])
		}
		for j, w := range want[i] {
			g := got[i][j]
			if g.name != w.name {
				t.Errorf("span %q event %d: %q, want %q", spans[i].Name, j, g.name, w.name)
			}
			for k, v := range w.attrs {
				if g.attrs[k] != v {
					t.Errorf("span %q event %d (%s): %s = %q, want %q", spans[i].Name, j, g.name, k, g.attrs[k], v)
				}
			}
		}
	}
}
