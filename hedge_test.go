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
	"github.com/breakwater-go/breakwater/hedge"
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
		inside []breakwater.Policy
	}{
		{"typed", nil},
		{"erased", []breakwater.Policy{passthrough}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, err := hedge.New(hedge.Config{Delay: 10 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				fn, calls := slowThenQuick()
				start := time.Now()
				v, err := breakwater.Execute(context.Background(), fn, append([]breakwater.Policy{breakwater.Hedge(h)}, tt.inside...)...)
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
		b, _ := breaker.New(breaker.Config{ConsecutiveFailures: 1})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		b.Trip()
		b.Reset()
		call := func(ctx context.Context) (int, error) {
			b.Trip() // the circuit opens while the first attempt is out
			<-ctx.Done()
			return 0, ctx.Err()
		}
		_, err := breakwater.Execute(ctx, call, breakwater.Hedge(h), breakwater.Breaker(b))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if m := h.Metrics(); m.Hedges != 0 {
			t.Errorf("%d hedges into an open circuit", m.Hedges)
		}
	})
}
