package bwslog_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwslog"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/retry"
)

// capture is a slog.Handler that keeps the records it is given.
type capture struct {
	mu      sync.Mutex
	records []slog.Record
	ctxs    []context.Context
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(ctx context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records = append(c.records, r.Clone())
	c.ctxs = append(c.ctxs, ctx)
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }

func attrs(r slog.Record) map[string]string {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	return m
}

func TestBreakerStateChangesAreLogged(t *testing.T) {
	h := &capture{}
	clk := clocktest.NewFake(time.Time{})
	b, _ := breaker.New(breaker.Config{Name: "db", Trip: breaker.Consecutive(1), Clock: clk, Hooks: bwslog.Hooks[breaker.Hooks](slog.New(h))})
	b.Do(context.Background(), func(context.Context) error { return errors.New("down") })
	clk.Advance(30 * time.Second)
	b.Do(context.Background(), func(context.Context) error { return nil })

	want := []struct {
		level    slog.Level
		msg      string
		from, to string
		reason   string
	}{
		{slog.LevelWarn, "circuit state changed", "closed", "open", "consecutive-failures"},
		{slog.LevelInfo, "circuit state changed", "open", "half-open", "cool-down"},
		{slog.LevelInfo, "circuit state changed", "half-open", "closed", "probes-passed"},
	}
	if len(h.records) != len(want) {
		t.Fatalf("%d records, want %d", len(h.records), len(want))
	}
	for i, w := range want {
		r := h.records[i]
		a := attrs(r)
		if r.Level != w.level || r.Message != w.msg || a["breaker"] != "db" || a["from"] != w.from || a["to"] != w.to ||
			a["reason"] != w.reason || (a["until"] != "") != (w.to == "open") {
			t.Errorf("record %d: %v %q %v", i, r.Level, r.Message, a)
		}
	}
}

func TestRetriesAndGivingUpAreLogged(t *testing.T) {
	h := &capture{}
	clk := clocktest.NewFake(time.Time{})
	p, _ := retry.New(retry.Config{Name: "search", MaxAttempts: 2, Jitter: retry.JitterNone, Clock: clk, Hooks: bwslog.Hooks[retry.Hooks](slog.New(h))})
	type traceKey struct{}
	ctx := context.WithValue(context.Background(), traceKey{}, "trace-1") // as a tracer's span would be
	clk.Drive(func() { p.Do(ctx, func(context.Context) error { return errors.New("503") }) })
	if len(h.records) != 2 {
		t.Fatalf("%d records", len(h.records))
	}
	for i, c := range h.ctxs {
		if c.Value(traceKey{}) != "trace-1" {
			t.Errorf("record %d was logged without the call's context", i)
		}
	}
	r, a := h.records[0], attrs(h.records[0])
	if r.Level != slog.LevelInfo || r.Message != "retrying" || a["retry"] != "search" || a["attempt"] != "1" || a["delay"] != "1s" || a["error"] != "503" {
		t.Errorf("retry record: %v %q %v", r.Level, r.Message, a)
	}
	r, a = h.records[1], attrs(h.records[1])
	if r.Level != slog.LevelWarn || r.Message != "retries exhausted" || a["attempts"] != "2" || a["cause"] != "retry: attempts exhausted" || a["error"] != "503" {
		t.Errorf("give-up record: %v %q %v", r.Level, r.Message, a)
	}
}

func ExampleHooks() {
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: noTime}))
	clk := clocktest.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	b, _ := breaker.New(breaker.Config{
		Name:  "payments-api",
		Clock: clk,
		Hooks: breaker.JoinHooks(bwslog.Hooks[breaker.Hooks](logger) /*, other observers */),
	})
	for range 3 {
		_ = b.Do(context.Background(), func(context.Context) error { return errors.New("503") })
	}
	b.Reset()
	// Output:
	// level=WARN msg="circuit state changed" breaker=payments-api from=closed to=open reason=consecutive-failures until=2026-03-01T12:00:30.000Z
	// level=INFO msg="circuit state changed" breaker=payments-api from=open to=closed reason=manual
}

type traceKey struct{}

// A trip is logged with the context of the call that tripped the circuit,
// so that a trace-aware handler finds it from the call's trace. (Before,
// the record had context.Background().)
func TestTripIsLoggedWithTheTrippingCallsContext(t *testing.T) {
	h := &capture{}
	b, err := breaker.New(breaker.Config{Trip: breaker.Consecutive(1), Hooks: bwslog.Hooks[breaker.Hooks](slog.New(h))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), traceKey{}, "trace-4bf92f35")
	_ = b.Do(ctx, func(context.Context) error { return errors.New("503") })
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ctxs) != 1 || h.ctxs[0].Value(traceKey{}) != "trace-4bf92f35" {
		t.Fatalf("the trip's record has context %v, want the tripping call's", h.ctxs)
	}
}
