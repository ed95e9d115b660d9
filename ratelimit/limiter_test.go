package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/ratelimit"
)

func newLimiter(t *testing.T, cfg ratelimit.Config) (*ratelimit.Limiter, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.NewFake(time.Time{})
	cfg.Clock = clk
	l, err := ratelimit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, clk
}

func allowed(l *ratelimit.Limiter, n int) int {
	got := 0
	for range n {
		if l.Allow() {
			got++
		}
	}
	return got
}

// Burst 1 spaces calls evenly: one every 1/Rate.
func TestSmooth(t *testing.T) {
	l, clk := newLimiter(t, ratelimit.Config{Rate: 10})
	if got := allowed(l, 5); got != 1 {
		t.Fatalf("%d calls at once, want 1", got)
	}
	clk.Advance(99 * time.Millisecond)
	if l.Allow() {
		t.Fatal("a call before its 100 ms")
	}
	clk.Advance(time.Millisecond)
	if !l.Allow() {
		t.Fatal("no call after 100 ms")
	}
	clk.Advance(time.Hour) // a quiet spell saves up no more than Burst
	if got := allowed(l, 5); got != 1 {
		t.Fatalf("%d calls after an hour, want 1", got)
	}
}

// A larger Burst lets that many through at once, then the rate.
func TestBursty(t *testing.T) {
	l, clk := newLimiter(t, ratelimit.Config{Rate: 5, Burst: 10})
	if got := allowed(l, 20); got != 10 {
		t.Fatalf("%d calls at once, want the burst of 10", got)
	}
	if tok := l.Metrics().Tokens; tok != 0 {
		t.Fatalf("Tokens() = %v after the burst", tok)
	}
	clk.Advance(time.Second)
	if tok := l.Metrics().Tokens; tok != 5 {
		t.Fatalf("Tokens() = %v after 1 s at 5/s", tok)
	}
	if got := allowed(l, 20); got != 5 {
		t.Fatalf("%d calls after 1 s at 5/s, want 5", got)
	}
	m := l.Metrics()
	if m.Allowed != 15 || m.Rejected != 25 {
		t.Fatalf("metrics %+v", m)
	}
}

// Wait never waits past the deadline: a token that comes after it is
// refused at once, and not taken.
func TestWaitHonoursTheDeadline(t *testing.T) {
	// Deadlines are on the wall clock: the fake starts at the real now.
	clk := clocktest.NewFake(time.Now())
	l, err := ratelimit.New(ratelimit.Config{Rate: 10, Name: "api", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Allow() // the next token is in 100 ms
	ctx, cancel := context.WithDeadline(context.Background(), clk.Now().Add(50*time.Millisecond))
	defer cancel()
	err = l.Wait(ctx)
	wait, ok := outcome.RetryAfter(err)
	if !errors.Is(err, ratelimit.ErrLimited) || !ok || wait != 100*time.Millisecond || !outcome.Rejected(err) {
		t.Fatalf("Wait with a deadline before the token: %v", err)
	}
	// Nothing was taken: the token is still due in 100 ms.
	clk.Advance(100 * time.Millisecond)
	if !l.Allow() {
		t.Fatal("the refused wait took the token")
	}
	// A deadline after the token: Wait sleeps until it.
	ctx2, cancel2 := context.WithDeadline(context.Background(), clk.Now().Add(time.Second))
	defer cancel2()
	start := clk.Now()
	clk.Drive(func() { err = l.Wait(ctx2) })
	if err != nil || clk.Since(start) != 100*time.Millisecond {
		t.Fatalf("Wait: %v after %v, want nil after 100ms", err, clk.Since(start))
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	l, _ := newLimiter(t, ratelimit.Config{Rate: 0.001})
	_ = l.Allow()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Wait(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel: %v", err)
	}
}

// Do waits at most MaxWait; without it, it never waits.
func TestDoWaitsAtMostMaxWait(t *testing.T) {
	var rejected []ratelimit.RejectEvent
	hooks := ratelimit.Hooks{OnReject: func(_ context.Context, e ratelimit.RejectEvent) { rejected = append(rejected, e) }}
	l, clk := newLimiter(t, ratelimit.Config{Rate: 10, MaxWait: 150 * time.Millisecond, Hooks: hooks})
	call := func() error { return l.Do(context.Background(), func(context.Context) error { return nil }) }
	var errs [3]error
	clk.Drive(func() {
		for i := range errs {
			errs[i] = call()
		}
	})
	// The first goes at once; each of the others asks when the one before
	// it went, and waits 100 ms for its token: within MaxWait.
	if errs[0] != nil || errs[1] != nil || errs[2] != nil {
		t.Fatalf("errors %v", errs)
	}
	l2, _ := newLimiter(t, ratelimit.Config{Rate: 10, Hooks: hooks})
	_ = l2.Allow()
	if err := l2.Do(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, ratelimit.ErrLimited) {
		t.Fatalf("Do without MaxWait: %v", err)
	}
	if len(rejected) != 1 || rejected[0].RetryIn != 100*time.Millisecond {
		t.Fatalf("reject events %+v", rejected)
	}
}

// Many goroutines at one instant get exactly the burst; each interval
// after adds exactly one; the bucket never goes below empty.
func TestConcurrentCallersGetExactlyTheTokens(t *testing.T) {
	l, clk := newLimiter(t, ratelimit.Config{Rate: 100, Burst: 50})
	var got atomic.Int64
	run := func() {
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					if l.Allow() {
						got.Add(1)
					}
					if l.Metrics().Tokens < 0 {
						t.Error("negative tokens")
					}
				}
			}()
		}
		wg.Wait()
	}
	run()
	if got.Load() != 50 {
		t.Fatalf("%d allowed at one instant, want 50", got.Load())
	}
	clk.Advance(70 * time.Millisecond) // 7 tokens at 100/s
	run()
	if got.Load() != 57 {
		t.Fatalf("%d allowed in all, want 57", got.Load())
	}
}

func TestInvalidConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg   ratelimit.Config
		field string
	}{
		{ratelimit.Config{}, "Rate"},
		{ratelimit.Config{Rate: -1}, "Rate"},
		{ratelimit.Config{Rate: 2e9}, "Rate"},
		{ratelimit.Config{Rate: 1, Burst: -1}, "Burst"},
		{ratelimit.Config{Rate: 1, Burst: 1_000_000 + 1}, "Burst"},
		{ratelimit.Config{Rate: 1, MaxWait: -1}, "MaxWait"},
	} {
		_, err := ratelimit.New(tt.cfg)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, config.ErrInvalid) {
			t.Errorf("New(%+v) = %v, want a config.Error for %s", tt.cfg, err, tt.field)
		}
	}
}

// The registry keeps a limiter per key, and evicts first those whose
// bucket has refilled: no different from new ones.
func TestRegistry(t *testing.T) {
	clk := clocktest.NewFake(time.Time{})
	r, err := ratelimit.NewRegistry(ratelimit.Config{Rate: 1, Clock: clk}, 3)
	if err != nil {
		t.Fatal(err)
	}
	a := r.Get("a")
	if !a.Allow() || r.Get("a").Allow() {
		t.Fatal("key a: want one call, then none")
	}
	if r.Get("a") != a || a.Name() != "a" {
		t.Fatal("a key's limiter changed")
	}
	_ = r.Get("b").Allow()
	_ = r.Get("c")
	_ = r.Get("d") // over the bound: c is full and goes
	if len(r.All()) != 3 {
		t.Fatalf("%d keys, want 3", len(r.All()))
	}
	if r.Get("a").Allow() {
		t.Fatal("a's spent bucket was evicted and refilled")
	}
	for i := range 100 {
		_ = r.Get(fmt.Sprint("k", i)).Allow()
	}
	if len(r.All()) > 3 {
		t.Fatalf("%d keys kept, bound 3", len(r.All()))
	}
	if _, err := ratelimit.NewRegistry(ratelimit.Config{}, 0); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("a registry without a rate: %v", err)
	}
}

// Waiters that give up hand their tokens back: after 50 abandoned waits a
// caller with time to wait for one token gets it, instead of being told
// the next token is seconds away.
func TestAbandonedWaitsGiveTheirTokensBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := ratelimit.New(ratelimit.Config{Rate: 10, Burst: 1})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var abandoned atomic.Int32
		for range 50 {
			wg.Go(func() {
				ctx, cancel := context.WithCancel(context.Background())
				defer time.AfterFunc(30*time.Millisecond, cancel).Stop()
				if errors.Is(l.Wait(ctx), context.Canceled) {
					abandoned.Add(1)
				}
			})
		}
		wg.Wait()
		if abandoned.Load() != 49 { // one took the bucket's token
			t.Fatalf("%d waits abandoned, want 49", abandoned.Load())
		}
		time.Sleep(300 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := l.Wait(ctx); err != nil {
			t.Fatalf("a caller with 500ms to wait: %v", err)
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("waited %v for a token that has been there since 100ms", waited)
		}
		if m := l.Metrics(); m.Allowed != 2 || m.Rejected != 0 {
			t.Errorf("metrics %+v: want 2 allowed, 0 rejected (abandoned waits count in neither)", m)
		}
	})
}

// Given back out of order, and with a reservation after them still
// waiting, tokens never let two calls act where the rate allows one.
func TestGivenBackTokensKeepTheRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, _ := ratelimit.New(ratelimit.Config{Rate: 10, Burst: 1})
		l.Allow() // the bucket's token
		ctxs := make([]context.CancelFunc, 4)
		done := make(chan time.Duration, 4)
		start := time.Now()
		for i := range ctxs { // slots at 100, 200, 300, 400 ms
			ctx, cancel := context.WithCancel(context.Background())
			ctxs[i] = cancel
			go func() {
				if l.Wait(ctx) == nil {
					done <- time.Since(start)
				}
			}()
			synctest.Wait()
		}
		ctxs[1]() // 200 ms, then 300 ms, given back while 400 ms still waits
		ctxs[2]()
		synctest.Wait()
		// The schedule cannot step back past the 400-ms waiter: a new call
		// gets the slot after it.
		if l.Allow() {
			t.Fatal("Allow at 0ms with every slot to 400ms reserved")
		}
		ctxs[3]() // now 400, 300 and 200 ms are given back: the schedule steps back to 100
		synctest.Wait()
		time.Sleep(200 * time.Millisecond)
		if got := <-done; got != 100*time.Millisecond {
			t.Errorf("first waiter acted at %v, want 100ms", got)
		}
		if !l.Allow() {
			t.Error("at 200ms, the slot given back is not to be had")
		}
		if l.Allow() {
			t.Error("two calls in one interval")
		}
		ctxs[0]()
	})
}
