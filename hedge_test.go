package breakwater_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/ratelimit"
)

// slowThenQuick answers its first call after an hour and the others at
// once, each with its number.
func slowThenQuick() (func(context.Context) (int, error), *atomic.Int32) {
	var calls atomic.Int32
	return func(ctx context.Context) (int, error) {
		n := int(calls.Add(1))
		if n == 1 {
			select {
			case <-time.After(time.Hour):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		return n, nil
	}, &calls
}

// A hedge in a stack takes the first answer, through built-in layers and
// through a policy of another package alike.
func TestHedgeInAStack(t *testing.T) {
	passthrough := breakwater.PolicyFunc(func(next breakwater.Next) breakwater.Next { return next })
	for _, tt := range []struct {
		name   string
		inside []any
	}{
		{"typed", nil},
		{"erased", []any{passthrough}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, err := hedge.New(hedge.Config{Delay: 10 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				fn, calls := slowThenQuick()
				start := time.Now()
				v, err := breakwater.Execute(context.Background(), fn, append([]any{h}, tt.inside...)...)
				if v != 2 || err != nil || time.Since(start) != 10*time.Millisecond {
					t.Fatalf("got %d, %v after %v; want the hedge's 2 after 10ms", v, err, time.Since(start))
				}
				synctest.Wait() // the loser has seen its cancellation
				if calls.Load() != 2 {
					t.Errorf("%d calls, want 2", calls.Load())
				}
			})
		})
	}
}

// A hedge never starts into an open circuit directly inside it.
func TestHedgeDoesNotHedgeIntoAnOpenCircuit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := hedge.New(hedge.Config{Delay: 10 * time.Millisecond})
		b, _ := breaker.New(breaker.Config{Trip: breaker.Consecutive(1)})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		b.Trip()
		b.Reset()
		call := func(ctx context.Context) (int, error) {
			b.Trip() // the circuit opens while the first attempt is out
			<-ctx.Done()
			return 0, ctx.Err()
		}
		_, err := breakwater.Execute(ctx, call, h, b)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if m := h.Metrics(); m.Hedges != 0 {
			t.Errorf("%d hedges into an open circuit", m.Hedges)
		}
	})
}

// A hedge that a policy inside it turns away (a full bulkhead, an empty
// rate limiter) is as if it had never started: the first attempt, still
// running, goes on and its answer is the call's.
func TestRejectedHedgeLeavesTheFirstAttemptRunning(t *testing.T) {
	for _, tt := range []struct {
		name   string
		inside func() any
	}{
		{"bulkhead", func() any {
			b, _ := bulkhead.New(bulkhead.Config{Name: "bh", MaxConcurrent: 1})
			return b
		}},
		{"rate limit", func() any {
			l, _ := ratelimit.New(ratelimit.Config{Name: "rl", Rate: 1, Burst: 1})
			return l
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, _ := hedge.New(hedge.Config{Delay: 20 * time.Millisecond})
				call := func(ctx context.Context) (string, error) {
					select {
					case <-time.After(100 * time.Millisecond):
						return "ok", nil
					case <-ctx.Done():
						return "", ctx.Err()
					}
				}
				start := time.Now()
				v, err := breakwater.Execute(context.Background(), call, h, tt.inside())
				if v != "ok" || err != nil || time.Since(start) != 100*time.Millisecond {
					t.Fatalf("got %q, %v after %v; want the first attempt's ok after 100ms", v, err, time.Since(start))
				}
				if m := h.Metrics(); m.Hedges != 1 || m.Rejected != 1 || m.Cancelled != 0 {
					t.Errorf("metrics %+v: want 1 hedge, turned away (rejected), none cancelled", m)
				}
			})
		})
	}
}
