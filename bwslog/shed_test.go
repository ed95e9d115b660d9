package bwslog_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/bwslog"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/throttle"
)

// Each load-shedding policy's rejections are logged at Debug, with the
// call's context, under a key naming the kind of policy.
func TestShedCallsAreLogged(t *testing.T) {
	h := &capture{}
	l := slog.New(h)
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "call")
	clk := clocktest.NewFake(time.Now())

	b, _ := bulkhead.New(bulkhead.Config{Name: "b", MaxConcurrent: 1, Hooks: bwslog.Hooks[bulkhead.Hooks](l)})
	slot, _ := b.Allow(ctx)
	_, _ = b.Allow(ctx)
	r, _ := ratelimit.New(ratelimit.Config{Name: "r", Rate: 1, Clock: clk, Hooks: bwslog.Hooks[ratelimit.Hooks](l)})
	_ = r.Wait(ctx)
	rctx, cancel := context.WithDeadline(ctx, clk.Now().Add(time.Millisecond))
	defer cancel()
	_ = r.Wait(rctx) // a token comes only after the deadline: refused at once
	th, _ := throttle.New(throttle.Config{Name: "t", Clock: clk, Rand: func() float64 { return 0 }, Hooks: bwslog.Hooks[throttle.Hooks](l)})
	_ = th.Do(ctx, func(context.Context) error { return context.DeadlineExceeded }) // refused by the dependency
	_ = th.Do(ctx, func(context.Context) error { return nil })                      // p = 1/2, drawn 0: throttled
	a, _ := adaptive.New(adaptive.Config{Name: "a", InitialLimit: 1, MinLimit: 1, Clock: clk, Hooks: bwslog.Hooks[adaptive.Hooks](l)})
	p, _ := a.Allow(ctx)
	_, _ = a.Allow(ctx)
	p.Release()

	want := []map[string]string{
		{"bulkhead": "b", "waited": "false"},
		{"ratelimit": "r", "retry_in": "1s"},
		{"throttle": "t", "probability": "0.5"},
		{"adaptive": "a", "limit": "1"},
	}
	if len(h.records) != len(want) {
		for _, r := range h.records {
			t.Log(r.Message, attrs(r))
		}
		t.Fatalf("%d records, want %d", len(h.records), len(want))
	}
	for i, w := range want {
		rec := h.records[i]
		if rec.Message != "call shed" || rec.Level != slog.LevelDebug || h.ctxs[i] != ctx && h.ctxs[i].Value(key{}) != "call" {
			t.Errorf("record %d: %q at %v", i, rec.Message, rec.Level)
		}
		got := attrs(rec)
		for k, v := range w {
			if got[k] != v {
				t.Errorf("record %d: %s = %q, want %q (all: %v)", i, k, got[k], v, got)
			}
		}
	}
	slot.Done(nil)
}
