package breakwater_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/attempt"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/fallback"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
	"github.com/breakwater-go/breakwater/timeout"
)

// closedGate is a policy of another package that knows it turns calls
// away for the next hour: a Gater, as a breaker is.
type closedGate struct{ asked int }

var errClosed = rejection("closed for maintenance")

type rejection string

func (r rejection) Error() string  { return string(r) }
func (r rejection) Rejected() bool { return true }

func (g *closedGate) Apply(next breakwater.Next) breakwater.Next {
	return func(ctx context.Context, c breakwater.Call) error {
		if g.asked > 0 {
			return errClosed
		}
		return next(ctx, c)
	}
}

func (g *closedGate) Gate() (time.Duration, error) {
	g.asked++
	return time.Hour, errClosed
}

// A retry asks any policy that can forecast a rejection, not only a
// breaker: it gives up at once instead of sleeping for an attempt that
// would be turned away. (Before, the stack knew breakers by name, and the
// retry slept its full delay into the closed gate.)
func TestAGaterOfAnotherPackageStopsTheRetry(t *testing.T) {
	s := newStack(t, breaker.Config{}, retry.Config{MaxAttempts: 3, Delay: time.Second})
	g := &closedGate{}
	calls := 0
	var err error
	start := s.clk.Now()
	s.clk.Drive(func() {
		err = breakwater.Do(context.Background(), func(context.Context) error { calls++; return errBad },
			s.r, mustTimeout(t, s.clk), g, s.b)
	})
	if g.asked != 1 || calls != 1 || s.clk.Since(start) != 0 {
		t.Fatalf("gate asked %d times, %d calls, %v slept", g.asked, calls, s.clk.Since(start))
	}
	if !errors.Is(err, errClosed) || !errors.Is(err, errBad) {
		t.Fatalf("err = %v, want the gate's rejection and the attempt's failure", err)
	}
}

// The protected function knows which attempt it is running, and each
// attempt's error is kept.
func TestAttemptInfoAndEveryAttemptsError(t *testing.T) {
	s := newStack(t, breaker.Config{Trip: breaker.Consecutive(10)}, retry.Config{MaxAttempts: 3})
	var seen []attempt.Info
	errs := []error{errors.New("first"), errors.New("second"), errors.New("third")}
	var err error
	s.clk.Drive(func() {
		err = breakwater.Do(context.Background(), func(ctx context.Context) error {
			seen = append(seen, attempt.From(ctx))
			return errs[len(seen)-1]
		}, s.r, s.b)
	})
	want := []attempt.Info{{Number: 1, Kind: attempt.First}, {Number: 2, Kind: attempt.Retry}, {Number: 3, Kind: attempt.Retry}}
	if !slices.Equal(seen, want) {
		t.Fatalf("attempts %v, want %v", seen, want)
	}
	for _, e := range errs {
		if !errors.Is(err, e) {
			t.Fatalf("%v does not match %v", err, e)
		}
	}
}

func TestHedgedAttemptsKnowTheyAreHedges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := hedge.New(hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 1, BudgetRatio: 1})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var seen []attempt.Info
		v, err := breakwater.Execute(context.Background(), func(ctx context.Context) (attempt.Info, error) {
			a := attempt.From(ctx)
			mu.Lock()
			seen = append(seen, a)
			mu.Unlock()
			if a.Kind == attempt.First {
				<-ctx.Done() // slow: the hedge wins
				return a, ctx.Err()
			}
			return a, nil
		}, h)
		if err != nil || v != (attempt.Info{Number: 2, Kind: attempt.Hedge}) || v.Previous() != 1 {
			t.Fatalf("won %+v, %v; want the hedge, attempt 2", v, err)
		}
		synctest.Wait()
	})
}

// A policy of another package may run built-in ones inside it, composed
// into one Policy: the same layers Wrap builds, with the results carried.
func TestBuiltinsComposedByHand(t *testing.T) {
	s := newStack(t, breaker.Config{}, retry.Config{MaxAttempts: 3})
	inner, err := breakwater.Compose(s.r, s.b)
	if err != nil {
		t.Fatal(err)
	}
	retryBreaker := breakwater.PolicyFunc(func(next breakwater.Next) breakwater.Next {
		return inner.Apply(next)
	})
	calls := 0
	var v int
	s.clk.Drive(func() {
		v, err = breakwater.Execute(context.Background(), func(context.Context) (int, error) {
			if calls++; calls < 3 {
				return 0, errBad
			}
			return 42, nil
		}, retryBreaker)
	})
	if v != 42 || err != nil || calls != 3 || s.b.Metrics().Failures != 2 {
		t.Fatalf("got %v, %v after %d calls, breaker %+v", v, err, calls, s.b.Metrics())
	}
	// With a call that carries no result.
	circuit, err := breakwater.Compose(s.b)
	if err != nil {
		t.Fatal(err)
	}
	next := circuit.Apply(func(context.Context, breakwater.Call) error { return errBad })
	if err := next(context.Background(), breakwater.Call{}); !errors.Is(err, errBad) {
		t.Fatalf("zero Call: %v", err)
	}
}

// A result returned by a timeout keeps its context while the caller uses
// it, when the stack says how (Results.Keep); one abandoned at the
// deadline is dropped once it comes.
func TestTimeoutKeepsAndDropsThroughResults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, err := timeout.New(timeout.Config{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var released, dropped int
		results := breakwater.Results[context.Context]{
			Keep: func(ctx context.Context, _ error, release func()) context.Context {
				return &releasing{ctx, func() { released++; release() }}
			},
			Drop: func(context.Context, error) { dropped++ },
		}
		slow := false
		get, err := breakwater.WrapWith(func(ctx context.Context) (context.Context, error) {
			if slow {
				time.Sleep(2 * time.Second) // ignores its context
			}
			return ctx, nil
		}, results, p)
		if err != nil {
			t.Fatal(err)
		}
		ctx, err := get(context.Background())
		if err != nil || ctx.Err() != nil {
			t.Fatalf("the kept context ended with the call: %v, %v", err, ctx.Err())
		}
		ctx.(*releasing).release()
		if released != 1 || ctx.Err() == nil {
			t.Fatal("release did not end the attempt's context")
		}
		slow = true
		if _, err := get(context.Background()); !errors.Is(err, timeout.ErrTimeout) {
			t.Fatalf("slow call: %v", err)
		}
		synctest.Wait()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if dropped != 1 {
			t.Fatalf("the abandoned result was dropped %d times, want 1", dropped)
		}
	})
}

type releasing struct {
	context.Context
	release func()
}

// A fallback in Results needs its answer; a result type mismatch cannot
// be written at all.
func TestFallbackWithoutAnswerIsRefused(t *testing.T) {
	_, err := breakwater.WrapWith(func(context.Context) (int, error) { return 1, nil },
		breakwater.Results[int]{Fallback: &fallback.Policy[int]{}})
	if !errors.Is(err, breakwater.ErrInvalidPolicy) {
		t.Fatalf("%v", err)
	}
}

// Every built-in policy composes into a Policy that runs in any stack,
// and the load shedding of an integration is such a stack.
func TestEveryBuiltinAppliesByHand(t *testing.T) {
	s := newStack(t, breaker.Config{}, retry.Config{})
	throttles, err1 := throttle.NewRegistry(throttle.Config{}, 0)
	limits, err2 := ratelimit.NewRegistry(ratelimit.Config{Rate: 100, Burst: 10}, 0)
	bulkheads, err3 := bulkhead.NewRegistry(bulkhead.Config{MaxConcurrent: 10}, 0)
	adaptives, err4 := adaptive.NewRegistry(adaptive.Config{}, 0)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		t.Fatal(err)
	}
	shed := breakwater.Shedding{Throttles: throttles, RateLimits: limits, Bulkheads: bulkheads, Adaptive: adaptives}
	p, _ := timeout.New(timeout.Config{Timeout: time.Minute})
	h, _ := hedge.New(hedge.Config{Delay: time.Minute})
	policies := append(shed.Policies("host"), p, h, s.b)
	for _, p := range policies {
		composed, err := breakwater.Compose(p)
		if err != nil {
			t.Fatal(err)
		}
		byHand := breakwater.PolicyFunc(composed.Apply)
		if v, err := breakwater.Execute(context.Background(), func(context.Context) (string, error) { return "ok", nil }, byHand); v != "ok" || err != nil {
			t.Errorf("%T by hand: %q, %v", p, v, err)
		}
	}
}

// A failed result counts against the breaker as the stack's Failure says,
// hooks see Failure's error, and a Failure that panics counts the call as
// failed, as a panic of the function would, the panic going on.
func TestFailedResultsThroughABreaker(t *testing.T) {
	var hookErr error
	b, err := breaker.New(breaker.Config{Trip: breaker.Consecutive(2),
		Hooks: breaker.Hooks{OnFailure: func(_ context.Context, e breaker.CallEvent) { hookErr = e.Err }}})
	if err != nil {
		t.Fatal(err)
	}
	status := 0
	call, err := breakwater.WrapWith(func(context.Context) (int, error) { return status, nil },
		breakwater.Results[int]{Failure: unavailable}, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []int{503, 200, 500} {
		status = s
		if v, err := call(context.Background()); v != s || err != nil {
			t.Fatalf("got %v, %v; want %d unchanged", v, err, s)
		}
	}
	if !errors.Is(hookErr, errUnavailable) || b.State() != breaker.Closed {
		t.Fatalf("hook saw %v; state %v", hookErr, b.State())
	}
	status = 502
	call(context.Background())
	if _, err := call(context.Background()); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("after two failed results in a row: %v", err)
	}
	b.Reset()
	panicky, _ := breakwater.WrapWith(func(context.Context) (int, error) { return 1, nil },
		breakwater.Results[int]{Failure: func(int) error { panic("check") }}, b)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic of Failure did not go on")
			}
		}()
		panicky(context.Background())
	}()
	if m := b.Metrics(); m.Failures != 4 {
		t.Fatalf("Failures = %d, want 4: the panicking check counts as failed", m.Failures)
	}
}

// A rejection through a stack that knows its results allocates nothing,
// as it does through Wrap.
func TestRejectionThroughResultsAllocatesNothing(t *testing.T) {
	b, err := breaker.New(breaker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b.ForceOpen()
	call, err := breakwater.WrapWith(func(context.Context) (int, error) { return 200, nil },
		breakwater.Results[int]{Failure: unavailable}, b)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { _, _ = call(ctx) }); n != 0 {
		t.Fatalf("%v allocations a rejected call", n)
	}
}
