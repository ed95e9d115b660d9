package admission_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/breakwater-go/breakwater/admission"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
)

// fixed is a controller whose limit stays at n.
func fixed(t *testing.T, n int, cfg admission.Config) *admission.Controller {
	t.Helper()
	cfg.Limit = admission.LimitConfig{Min: n, Max: n}
	c, err := admission.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// request is an Admit running on its own goroutine.
type request struct {
	permit outcome.Permit
	err    error
	done   chan struct{}
}

func admit(ctx context.Context, c *admission.Controller, p admission.Priority) *request {
	r := &request{done: make(chan struct{})}
	go func() {
		r.permit, r.err = c.Admit(ctx, p)
		close(r.done)
	}()
	return r
}

func (r *request) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func reason(err error) admission.Reason {
	for _, r := range []admission.Reason{admission.ReasonQueueFull, admission.ReasonQueueTimeout, admission.ReasonDeadline, admission.ReasonPriority} {
		if errors.Is(err, r) {
			return r
		}
	}
	return ""
}

// Up to the limit, requests go through at once; the next one waits, and a
// finished request's slot goes to the oldest waiter while the queue does
// not stand.
func TestQueuedRequestsTakeFreedSlotsInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := fixed(t, 2, admission.Config{})
		a, _ := c.Admit(ctx, admission.Default)
		b, _ := c.Admit(ctx, admission.Default)
		first := admit(ctx, c, admission.Default)
		synctest.Wait()
		second := admit(ctx, c, admission.Default)
		synctest.Wait()
		if first.finished() || second.finished() || c.Metrics().Queued != 2 {
			t.Fatalf("over the limit, requests did not wait: %+v", c.Metrics())
		}
		time.Sleep(10 * time.Millisecond)
		a.Done(nil)
		synctest.Wait()
		if !first.finished() || first.err != nil || second.finished() {
			t.Fatalf("the freed slot went elsewhere: first %v %v, second %v", first.finished(), first.err, second.finished())
		}
		b.Done(nil)
		synctest.Wait()
		if second.err != nil {
			t.Fatal(second.err)
		}
		first.permit.Done(nil)
		second.permit.Done(nil)
		if m := c.Metrics(); m.InFlight != 0 || m.Queued != 0 || m.Admitted[admission.Default] != 4 || m.QueueDelay != 10*time.Millisecond {
			t.Fatalf("%+v", m)
		}
	})
}

// A request waits at most Interval while the queue does not stand.
func TestARequestWaitsAtMostInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var events []admission.ShedEvent
		c := fixed(t, 1, admission.Config{Name: "api", Hooks: admission.Hooks{OnShed: func(e admission.ShedEvent) { events = append(events, e) }}})
		p, _ := c.Admit(ctx, admission.Default)
		defer p.Done(nil)
		r := admit(ctx, c, admission.Critical)
		time.Sleep(99 * time.Millisecond)
		synctest.Wait()
		if r.finished() {
			t.Fatal("shed before Interval")
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if !errors.Is(r.err, admission.ReasonQueueTimeout) || !errors.Is(r.err, admission.ErrShed) || !outcome.Rejected(r.err) {
			t.Fatalf("after Interval: %v", r.err)
		}
		if after, ok := outcome.RetryAfter(r.err); !ok || after != time.Second {
			t.Fatalf("retry after %v, %v", after, ok)
		}
		if len(events) != 1 || events[0] != (admission.ShedEvent{Name: "api", Priority: admission.Critical, Reason: admission.ReasonQueueTimeout, Waited: 100 * time.Millisecond}) {
			t.Fatalf("events %+v", events)
		}
	})
}

// Once the queue has stood for an Interval, the newest request is served
// first, those that waited longer than Target are shed, and Sheddable
// requests are shed on arrival.
func TestAStandingQueueServesTheNewestAndShedsTheStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := fixed(t, 1, admission.Config{Interval: 100 * time.Millisecond, Target: 5 * time.Millisecond})
		slot, _ := c.Admit(ctx, admission.Default)
		// Keep the queue from emptying for over an Interval: each waiter
		// is replaced before it times out.
		var old *request
		for range 3 {
			old = admit(ctx, c, admission.Default)
			synctest.Wait()
			time.Sleep(60 * time.Millisecond)
		}
		if !c.Metrics().Standing {
			t.Fatalf("the queue does not stand: %+v", c.Metrics())
		}
		if r, _ := c.Admit(ctx, admission.Sheddable); r != (outcome.Permit{}) {
			t.Fatal("a sheddable request was admitted while the queue stood")
		}
		newest := admit(ctx, c, admission.Default)
		synctest.Wait()
		time.Sleep(time.Millisecond)
		slot.Done(nil)
		synctest.Wait()
		if !newest.finished() || newest.err != nil {
			t.Fatalf("the newest was not served: %v", newest.err)
		}
		if reason(old.err) != admission.ReasonQueueTimeout {
			t.Fatalf("a waiter queued 60 ms in a standing queue: %v", old.err)
		}
		newest.permit.Done(nil)
		m := c.Metrics()
		if m.Shed[admission.Sheddable][admission.ReasonPriority] != 1 || m.Queued != 0 {
			t.Fatalf("%+v", m)
		}
	})
}

// A full queue: a request evicts the newest of a lower priority, or is
// shed when every queued request matters as much.
func TestAFullQueueMakesRoomForHigherPriorities(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := fixed(t, 1, admission.Config{MaxQueue: 2})
		slot, _ := c.Admit(ctx, admission.Default)
		defer slot.Done(nil)
		low := admit(ctx, c, admission.Sheddable)
		mid := admit(ctx, c, admission.Default)
		synctest.Wait()
		high := admit(ctx, c, admission.Critical)
		synctest.Wait()
		if reason(low.err) != admission.ReasonPriority || mid.finished() || high.finished() {
			t.Fatalf("a critical request in a full queue: low %v, mid %v, high %v", low.err, mid.finished(), high.finished())
		}
		if _, err := c.Admit(ctx, admission.Default); reason(err) != admission.ReasonQueueFull {
			t.Fatalf("a default request in a queue full of default and critical ones: %v", err)
		}
		slot.Done(nil)
		synctest.Wait()
		if !high.finished() || high.err != nil || mid.finished() {
			t.Fatalf("the freed slot did not go to the critical request: %v", high.err)
		}
		high.permit.Done(nil)
		synctest.Wait()
		if mid.err != nil {
			t.Fatal(mid.err)
		}
		mid.permit.Done(nil)
		slot = outcome.Permit{}
	})
}

// A request whose deadline has passed, or would pass before the usual
// service time, is shed before any work.
func TestDeadlinesShedBeforeWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := fixed(t, 1, admission.Config{})
		past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
		defer cancel()
		if _, err := c.Admit(past, admission.Critical); reason(err) != admission.ReasonDeadline {
			t.Fatalf("a passed deadline: %v", err)
		}
		// Teach the limit that a request takes 50 ms.
		for range 120 {
			p, err := c.Admit(context.Background(), admission.Default)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			p.Done(nil)
		}
		slot, _ := c.Admit(context.Background(), admission.Default)
		defer slot.Done(nil)
		short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := c.Admit(short, admission.Critical); reason(err) != admission.ReasonDeadline {
			t.Fatalf("20 ms left for a 50 ms request: %v", err)
		}
		long, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
		defer cancel()
		r := admit(long, c, admission.Critical)
		time.Sleep(80 * time.Millisecond)
		synctest.Wait()
		if reason(r.err) != admission.ReasonDeadline {
			t.Fatalf("a request queued until its deadline: %v", r.err)
		}
	})
}

// A client that gives up while queued leaves the queue, and nothing is
// lost: the slot it would have had goes to the next.
func TestACallerThatGivesUpLeavesTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := fixed(t, 1, admission.Config{})
		slot, _ := c.Admit(context.Background(), admission.Default)
		ctx, cancel := context.WithCancel(context.Background())
		gone := admit(ctx, c, admission.Default)
		next := admit(context.Background(), c, admission.Default)
		synctest.Wait()
		cancel()
		synctest.Wait()
		if !errors.Is(gone.err, context.Canceled) || c.Metrics().Queued != 1 {
			t.Fatalf("a canceled waiter: %v, %+v", gone.err, c.Metrics())
		}
		slot.Done(nil)
		synctest.Wait()
		if next.err != nil {
			t.Fatal(next.err)
		}
		next.permit.Done(nil)
		if m := c.Metrics(); m.Canceled != 1 || m.InFlight != 0 {
			t.Fatalf("%+v", m)
		}
	})
}

// Many goroutines of every priority, some giving up: the requests in
// flight never exceed the limit, and every request is admitted, shed or
// canceled exactly once.
func TestConcurrentRequestsAddUp(t *testing.T) {
	const limit, goroutines, each = 4, 32, 200
	c := fixed(t, limit, admission.Config{MaxQueue: 8, Target: time.Millisecond, Interval: 5 * time.Millisecond})
	var inflight, peak atomic.Int64
	var admitted, shed, canceled atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range each {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(3000))*time.Microsecond)
				p, err := c.Admit(ctx, admission.Priority(rng.IntN(3)-1))
				switch {
				case err == nil:
					admitted.Add(1)
					n := inflight.Add(1)
					for old := peak.Load(); n > old && !peak.CompareAndSwap(old, n); old = peak.Load() {
					}
					time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
					inflight.Add(-1)
					if rng.IntN(10) == 0 {
						p.Release()
					} else {
						p.Done(nil)
					}
				case errors.Is(err, admission.ErrShed):
					shed.Add(1)
				case ctx.Err() != nil:
					canceled.Add(1)
				default:
					t.Errorf("unexpected error %v", err)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	m := c.Metrics()
	var mAdmitted, mShed uint64
	for _, n := range m.Admitted {
		mAdmitted += n
	}
	for _, byReason := range m.Shed {
		for _, n := range byReason {
			mShed += n
		}
	}
	t.Logf("admitted %d, shed %d, canceled %d; peak in flight %d", admitted.Load(), shed.Load(), canceled.Load(), peak.Load())
	switch {
	case peak.Load() > limit:
		t.Fatalf("%d in flight at once, limit %d", peak.Load(), limit)
	case admitted.Load()+shed.Load()+canceled.Load() != goroutines*each:
		t.Fatal("requests do not add up")
	case mAdmitted != uint64(admitted.Load()) || mShed != uint64(shed.Load()) || m.Canceled != uint64(canceled.Load()):
		t.Fatalf("metrics %+v; counted %d admitted, %d shed, %d canceled", m, admitted.Load(), shed.Load(), canceled.Load())
	case m.InFlight != 0 || m.Queued != 0:
		t.Fatalf("left behind: %+v", m)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg   admission.Config
		field string
	}{
		{admission.Config{MaxQueue: -1}, "MaxQueue"},
		{admission.Config{Target: -1}, "Target"},
		{admission.Config{Interval: 2 * time.Hour}, "Interval"},
		{admission.Config{Target: time.Second}, "Target"},
		{admission.Config{RetryAfter: time.Microsecond}, "RetryAfter"},
		{admission.Config{Limit: admission.LimitConfig{Min: 5, Max: 2}}, "Limit.Max"},
		{admission.Config{Limit: admission.LimitConfig{Buffer: -1}}, "Limit.Buffer"},
		{admission.Config{Limit: admission.LimitConfig{Max: 2, MinConcurrency: 3}}, "Limit.MinConcurrency"},
	} {
		_, err := admission.New(tc.cfg)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%+v: %v, want an error naming %s", tc.cfg, err, tc.field)
		}
	}
}

func TestPriorities(t *testing.T) {
	for _, p := range []admission.Priority{admission.Sheddable, admission.Default, admission.Critical} {
		var q admission.Priority
		if err := q.UnmarshalText([]byte(p.String())); err != nil || q != p {
			t.Errorf("%v round-trips to %v, %v", p, q, err)
		}
	}
	q := admission.Critical
	if err := q.UnmarshalText([]byte("urgent")); err == nil || q != admission.Critical {
		t.Errorf("an unknown priority parsed: %v, %v", q, err)
	}
}

// An OnShed hook that panics wedges no one. Told of another request than
// its goroutine's (shed by a timer, by an arrival, by a request's end), its
// panic is recovered after that request is let go; told of the caller's
// own request, it goes on to the caller. The controller goes on.
func TestAPanickingHookWedgesNoOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := fixed(t, 1, admission.Config{MaxQueue: 8, Hooks: admission.Hooks{OnShed: func(admission.ShedEvent) { panic("hook") }}})
		slot, _ := c.Admit(ctx, admission.Default)
		var queued []*request
		for range 4 { // the queue stands: not empty for over an Interval
			queued = append(queued, admit(ctx, c, admission.Default))
			synctest.Wait()
			time.Sleep(40 * time.Millisecond)
		}
		// The first timed out (its timer's hook panicked); the fourth's
		// arrival shed the second and third (its hooks panicked).
		for i, r := range queued[:3] {
			if !r.finished() || reason(r.err) != admission.ReasonQueueTimeout {
				t.Fatalf("waiter %d: finished %v, %v", i, r.finished(), r.err)
			}
		}
		time.Sleep(time.Millisecond)
		slot.Done(nil) // the fourth is stale now: shed, and its hook panics
		synctest.Wait()
		if last := queued[3]; !last.finished() || reason(last.err) != admission.ReasonQueueTimeout {
			t.Fatalf("the last waiter: %v", last.err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("the hook's panic for the caller's own request was lost")
				}
			}()
			past, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
			defer cancel()
			_, _ = c.Admit(past, admission.Default)
		}()
		p, err := c.Admit(ctx, admission.Critical)
		if err != nil {
			t.Fatalf("after the panics: %v", err)
		}
		p.Done(nil)
		if m := c.Metrics(); m.InFlight != 0 || m.Queued != 0 || m.Shed[admission.Default][admission.ReasonQueueTimeout] != 4 {
			t.Fatalf("%+v", m)
		}
	})
}
