package bulkhead_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
)

func newBulkhead(t *testing.T, cfg bulkhead.Config) (*bulkhead.Bulkhead, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.NewFake(time.Time{})
	cfg.Clock = clk
	b, err := bulkhead.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, clk
}

// until waits, yielding, for cond; the goroutines it waits for do not sleep.
func until(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 1_000_000 {
			t.Fatal("condition never held")
		}
		runtime.Gosched()
	}
}

func TestRejectsAtOnceWhenFull(t *testing.T) {
	var events []bulkhead.RejectEvent
	b, _ := newBulkhead(t, bulkhead.Config{Name: "db", MaxConcurrent: 2,
		Hooks: bulkhead.Hooks{OnReject: func(_ context.Context, e bulkhead.RejectEvent) { events = append(events, e) }}})
	ctx := context.Background()
	for range 2 {
		if err := acquire(b, ctx); err != nil {
			t.Fatal(err)
		}
	}
	err := acquire(b, ctx)
	var fe *outcome.RejectedError
	if !errors.Is(err, bulkhead.ErrFull) || !errors.As(err, &fe) || !outcome.Rejected(err) || fe.Name != "db" || err.Error() != `bulkhead "db": full` {
		t.Fatalf("third call: %v", err)
	}
	if len(events) != 1 || events[0].Waited {
		t.Fatalf("events %+v", events)
	}
	release(b)
	if err := acquire(b, ctx); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	m := b.Metrics()
	if m.InFlight != 2 || m.Admitted != 3 || m.Rejected != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestRejectionAllocatesNothing(t *testing.T) {
	b, _ := newBulkhead(t, bulkhead.Config{MaxConcurrent: 1})
	ctx := context.Background()
	_ = acquire(b, ctx)
	if n := testing.AllocsPerRun(100, func() { _ = b.Do(ctx, func(context.Context) error { return nil }) }); n != 0 {
		t.Fatalf("%v allocs per rejection", n)
	}
}

// Queued calls get the freed slots in the order they arrived.
func TestQueueIsFirstComeFirstServed(t *testing.T) {
	b, _ := newBulkhead(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 5})
	ctx := context.Background()
	_ = acquire(b, ctx)
	var order []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := acquire(b, ctx); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			release(b)
		}()
		until(t, func() bool { return b.Metrics().Queued == i+1 }) // queued in order
	}
	if err := acquire(b, ctx); !errors.Is(err, bulkhead.ErrFull) {
		t.Fatalf("with the queue full: %v", err)
	}
	release(b)
	wg.Wait()
	for i, v := range order {
		if v != i {
			t.Fatalf("admission order %v", order)
		}
	}
	if m := b.Metrics(); m.InFlight != 0 || m.Queued != 0 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestMaxWait(t *testing.T) {
	b, clk := newBulkhead(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1, MaxWait: time.Second})
	ctx := context.Background()
	_ = acquire(b, ctx)
	done := make(chan error)
	go func() { done <- acquire(b, ctx) }()
	until(t, func() bool { return b.Metrics().Queued == 1 })
	clk.Advance(999 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("returned before MaxWait: %v", err)
	default:
	}
	clk.Advance(time.Millisecond)
	if err := <-done; !errors.Is(err, bulkhead.ErrFull) || !strings.Contains(err.Error(), "no slot freed within the maximum wait") {
		t.Fatalf("after MaxWait: %v", err)
	}
	if m := b.Metrics(); m.Queued != 0 || m.TimedOut != 1 || m.Rejected != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

// A caller whose context ends while queued leaves the queue at once.
func TestCancelledCallerLeavesTheQueue(t *testing.T) {
	b, _ := newBulkhead(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 2})
	_ = acquire(b, context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- acquire(b, ctx) }()
	until(t, func() bool { return b.Metrics().Queued == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if m := b.Metrics(); m.Queued != 0 || m.Cancelled != 1 || m.InFlight != 1 {
		t.Fatalf("metrics %+v", m)
	}
	release(b)
	if m := b.Metrics(); m.InFlight != 0 {
		t.Fatalf("the slot was not freed: %+v", m)
	}
}

func TestPanickingCallFreesItsSlot(t *testing.T) {
	b, _ := newBulkhead(t, bulkhead.Config{MaxConcurrent: 1})
	func() {
		defer func() { recover() }()
		_ = b.Do(context.Background(), func(context.Context) error { panic("boom") })
	}()
	if err := b.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
}

// Many goroutines, some queueing, some giving up: never more than
// MaxConcurrent in flight, and every call accounted for.
func TestNeverMoreThanMaxInFlight(t *testing.T) {
	const limit, goroutines, calls = 4, 32, 500
	b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: limit, MaxQueue: 8})
	if err != nil {
		t.Fatal(err)
	}
	var running, peak atomic.Int64
	var ran, full, gaveUp atomic.Uint64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				ctx, cancel := context.WithCancel(context.Background())
				if (g+i)%7 == 0 {
					cancel() // gives up at once, perhaps while queued
				}
				err := b.Do(ctx, func(context.Context) error {
					n := running.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					runtime.Gosched()
					running.Add(-1)
					return nil
				})
				cancel()
				switch {
				case err == nil:
					ran.Add(1)
				case errors.Is(err, bulkhead.ErrFull):
					full.Add(1)
				case errors.Is(err, context.Canceled):
					gaveUp.Add(1)
				default:
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > limit || p == 0 {
		t.Fatalf("peak of %d calls in flight, limit %d", p, limit)
	}
	m := b.Metrics()
	if ran.Load()+full.Load()+gaveUp.Load() != goroutines*calls || m.Admitted != ran.Load() || m.Rejected != full.Load() {
		t.Fatalf("metrics %+v; ran %d, full %d, gave up %d", m, ran.Load(), full.Load(), gaveUp.Load())
	}
	if m.InFlight != 0 || m.Queued != 0 {
		t.Fatalf("left behind: %+v", m)
	}
}

func TestInvalidConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg   bulkhead.Config
		field string
	}{
		{bulkhead.Config{MaxConcurrent: -1}, "MaxConcurrent"},
		{bulkhead.Config{MaxConcurrent: 1_000_000 + 1}, "MaxConcurrent"},
		{bulkhead.Config{MaxQueue: -1}, "MaxQueue"},
		{bulkhead.Config{MaxWait: -time.Second, MaxQueue: 1}, "MaxWait"},
		{bulkhead.Config{MaxWait: time.Second}, "MaxWait"},
	} {
		_, err := bulkhead.New(tt.cfg)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, config.ErrInvalid) {
			t.Errorf("New(%+v) = %v, want a config.Error for %s", tt.cfg, err, tt.field)
		}
	}
}

// A panicking hook on a queued call's timeout leaves the queue and the
// slots as they should be.
func TestPanickingHookLeavesTheQueueConsistent(t *testing.T) {
	b, clk := newBulkhead(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1, MaxWait: time.Second,
		Hooks: bulkhead.Hooks{OnReject: func(context.Context, bulkhead.RejectEvent) { panic("hook") }}})
	_ = acquire(b, context.Background())
	done := make(chan any)
	go func() {
		defer func() { done <- recover() }()
		_ = acquire(b, context.Background())
	}()
	until(t, func() bool { return b.Metrics().Queued == 1 })
	clk.Advance(time.Second)
	if r := <-done; r == nil {
		t.Fatal("the hook's panic was swallowed")
	}
	release(b)
	if m := b.Metrics(); m.InFlight != 0 || m.Queued != 0 || m.TimedOut != 1 {
		t.Fatalf("metrics %+v", m)
	}
	if err := acquire(b, context.Background()); err != nil {
		t.Fatalf("after the panic: %v", err)
	}
}
