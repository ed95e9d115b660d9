package bwslog_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/bwslog"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/hedge"
)

// A hedge started and a hedge that won are logged at Debug, with the
// call's context, the policy's name, the hedge's number and when it
// started.
func TestHedgesAreLogged(t *testing.T) {
	h := &capture{}
	clk := clocktest.NewFake(time.Unix(0, 0))
	p, err := hedge.New(hedge.Config{Name: "search", Delay: 30 * time.Millisecond, Clock: clk, Hooks: bwslog.Hooks[hedge.Hooks](slog.New(h))})
	if err != nil {
		t.Fatal(err)
	}
	type key struct{}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), key{}, "call"), 10*time.Second)
	defer cancel()
	var attempts atomic.Int32
	done := make(chan error, 1)
	first := make(chan struct{})
	go func() {
		done <- p.Do(ctx, func(ctx context.Context) error {
			if attempts.Add(1) == 1 {
				close(first) // the call's own attempt: no hedge starts before the clock moves
				<-ctx.Done()
			}
			return nil
		})
	}()
	<-first // the slow attempt is the call's own, the winner the hedge
	if err := clk.WaitForTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	want := []string{"hedging", "hedge won"}
	if len(h.records) != len(want) {
		t.Fatalf("%d records, want %d", len(h.records), len(want))
	}
	for i, msg := range want {
		r := h.records[i]
		got := attrs(r)
		if r.Message != msg || r.Level != slog.LevelDebug || h.ctxs[i].Value(key{}) != "call" ||
			got["hedge"] != "search" || got["number"] != "1" || got["after"] != "30ms" {
			t.Errorf("record %d: %q at %v, %v", i, r.Message, r.Level, got)
		}
	}
}
