package breakwater_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/fallback"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/internal/testpolicy"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
	"github.com/breakwater-go/breakwater/timeout"
)

var errBad = errors.New("502 Bad Gateway")

type stack struct {
	clk *clocktest.Fake
	b   *breaker.Breaker
	r   *retry.Policy
}

func newStack(t *testing.T, bc breaker.Config, rc retry.Config) stack {
	t.Helper()
	clk := clocktest.NewFake(time.Now())
	bc.Clock, rc.Clock = clk, clk
	if rc.Jitter == retry.JitterProportional {
		rc.Jitter = retry.JitterNone
	}
	rc.NoBudget = rc.Budget == nil
	b, err := breaker.New(bc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := retry.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	return stack{clk, b, r}
}

func TestRetryOutsideBreakerStopsWhenTheCircuitOpens(t *testing.T) {
	s := newStack(t, breaker.Config{Trip: breaker.Consecutive(2)}, retry.Config{MaxAttempts: 5})
	calls := 0
	var err error
	start := s.clk.Now()
	s.clk.Drive(func() {
		err = breakwater.Do(context.Background(), func(context.Context) error { calls++; return errBad },
			s.r, s.b)
	})
	if calls != 2 {
		t.Fatalf("the dependency was called %d times, want 2: the breaker sees every attempt", calls)
	}
	if !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("err = %v, want the open circuit (not retried)", err)
	}
	// It stopped at once: no sleep before an attempt the circuit would
	// reject, so only the delay between the two attempts passed.
	if m := s.b.Metrics(); m.Failures != 2 || m.Rejections != 0 {
		t.Fatalf("breaker metrics %+v", m)
	}
	if took := s.clk.Since(start); took != time.Second {
		t.Fatalf("the call took %v, want 1s: the retry slept for an open circuit", took)
	}
	var re *retry.Error
	if !errors.As(err, &re) || !errors.Is(err, errBad) || re.Attempts != 2 {
		t.Fatalf("err = %v, want a retry.Error after 2 attempts keeping the last failure", err)
	}
}

// When the circuit will let a probe through before the retry's delay ends,
// the retry waits as usual and its next attempt is the probe.
func TestRetryWaitsForAProbeDueWithinItsDelay(t *testing.T) {
	s := newStack(t, breaker.Config{Trip: breaker.Consecutive(1), OpenDuration: 500 * time.Millisecond}, retry.Config{MaxAttempts: 3})
	calls := 0
	var err error
	s.clk.Drive(func() {
		err = breakwater.Do(context.Background(), func(context.Context) error {
			calls++
			if calls == 1 {
				return errBad
			}
			return nil
		}, s.r, mustTimeout(t, s.clk), s.b)
	})
	if err != nil || calls != 2 || s.b.State() != breaker.Closed {
		t.Fatalf("err %v after %d calls, state %v; want the probe to succeed", err, calls, s.b.State())
	}
}

func mustTimeout(t *testing.T, clk *clocktest.Fake) *timeout.Policy {
	t.Helper()
	p, err := timeout.New(timeout.Config{Timeout: time.Minute, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBreakerOutsideRetryCountsASequenceAsOneFailure(t *testing.T) {
	s := newStack(t, breaker.Config{Trip: breaker.Consecutive(2)}, retry.Config{MaxAttempts: 3})
	calls := 0
	protected, err := breakwater.Wrap(func(context.Context) (int, error) { calls++; return 0, errBad },
		s.b, s.r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		s.clk.Drive(func() { _, err = protected(context.Background()) })
		if !errors.Is(err, retry.ErrExhausted) || !errors.Is(err, errBad) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if calls != 6 {
		t.Fatalf("the dependency was called %d times, want 2 sequences of 3", calls)
	}
	if m := s.b.Metrics(); m.Failures != 2 || s.b.State() != breaker.Open {
		t.Fatalf("breaker %v with metrics %+v; want two failures, open", s.b.State(), m)
	}
	if _, err = protected(context.Background()); !errors.Is(err, breaker.ErrOpen) || calls != 6 {
		t.Fatalf("third call: %v after %d dependency calls", err, calls)
	}
}

// Tests where timers on several goroutines race (a timeout abandoning a
// call while a retry waits) run in a synctest bubble on the system clock,
// where time moves only once every goroutine is blocked.
func TestTimeoutAbandonsACallThatIgnoresItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		attempt, err := timeout.New(timeout.Config{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := retry.New(retry.Config{MaxAttempts: 2, Jitter: retry.JitterNone})
		release := make(chan struct{})
		deaf := func(context.Context) (string, error) { <-release; return "too late", nil }

		start := time.Now()
		got, err := breakwater.Execute(context.Background(), deaf, r, attempt)
		if got != "" || !errors.Is(err, timeout.ErrTimeout) || !errors.Is(err, retry.ErrExhausted) {
			t.Fatalf("got %q, %v; want both attempts to time out", got, err)
		}
		if took := time.Since(start); took != 3*time.Second { // 1s, a 1s delay, 1s
			t.Fatalf("took %v, want 3s", took)
		}
		close(release) // the abandoned calls return; their results are dropped
		synctest.Wait()
	})
}

func TestFallbackVariants(t *testing.T) {
	s := newStack(t, breaker.Config{Trip: breaker.Consecutive(1)}, retry.Config{})
	failing := func(context.Context) (string, error) { return "", io.EOF }

	with := func(fb *fallback.Policy[string], policies ...any) (string, error) {
		f, err := breakwater.WrapWith(failing, breakwater.Results[string]{Fallback: fb}, policies...)
		if err != nil {
			t.Fatal(err)
		}
		return f(context.Background())
	}
	v, err := with(fallback.Value("cached"))
	if v != "cached" || err != nil {
		t.Fatalf("value fallback: %q, %v", v, err)
	}
	v, err = with(fallback.Func(func(_ context.Context, err error) (string, error) { return "default after " + err.Error(), nil }))
	if v != "default after EOF" || err != nil {
		t.Fatalf("func fallback: %q, %v", v, err)
	}

	onlyOpen := fallback.Value("stale").When(outcome.Rejected)
	v, err = with(onlyOpen, s.b)
	if v != "" || !errors.Is(err, io.EOF) {
		t.Fatalf("closed circuit: the error must pass through, got %q, %v", v, err)
	}
	v, err = with(onlyOpen, s.b)
	if v != "stale" || err != nil {
		t.Fatalf("open circuit: %q, %v", v, err)
	}
}

func TestOneBreakerServesCallsOfDifferentTypes(t *testing.T) {
	s := newStack(t, breaker.Config{Trip: breaker.Consecutive(2)}, retry.Config{})
	getName, _ := breakwater.Wrap(func(context.Context) (string, error) { return "", errBad }, s.b)
	getAge, _ := breakwater.Wrap(func(context.Context) (int, error) { return 0, errBad }, s.b)
	getName(context.Background())
	getAge(context.Background())
	if s.b.State() != breaker.Open {
		t.Fatal("failures of both functions must count on the shared breaker")
	}
	if _, err := getName(context.Background()); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("getName: %v", err)
	}
	if _, err := getAge(context.Background()); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("getAge: %v", err)
	}
}

func TestPolicyFunc(t *testing.T) {
	var log []string
	logged := breakwater.PolicyFunc(func(next breakwater.Next) breakwater.Next {
		return func(ctx context.Context, c breakwater.Call) error {
			log = append(log, "before")
			err := next(ctx, c)
			log = append(log, "after: "+errString(err))
			return err
		}
	})
	v, err := breakwater.Execute(context.Background(), func(context.Context) (int, error) { return 42, nil }, logged)
	if v != 42 || err != nil || strings.Join(log, ", ") != "before, after: <nil>" {
		t.Fatalf("got %v, %v; log %q", v, err, log)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// fieldPolicy is a policy whose Apply reads its receiver.
type fieldPolicy struct{ name string }

func (p *fieldPolicy) Apply(next breakwater.Next) breakwater.Next {
	_ = p.name
	return next
}

func TestInvalidStacks(t *testing.T) {
	ok := func(context.Context) (int, error) { return 1, nil }
	tests := []struct {
		name     string
		fn       func(context.Context) (int, error)
		policies []any
		want     string
	}{
		{"nil function", nil, nil, "the function is nil"},
		{"nil policy", ok, []any{nil}, "policy 0 (nil): it is nil"},
		{"nil breaker", ok, []any{(*breaker.Breaker)(nil)}, "policy 0 (breaker)"},
		{"nil retry", ok, []any{(*retry.Policy)(nil)}, "policy 0 (retry)"},
		{"nil timeout", ok, []any{(*timeout.Policy)(nil)}, "policy 0 (timeout)"},
		{"policy whose Apply returns nil", ok, []any{breakwater.PolicyFunc(func(breakwater.Next) breakwater.Next { return nil })}, "its Apply returned nil"},
		{"nil hedge", ok, []any{(*hedge.Policy)(nil)}, "policy 0 (hedge)"},
		{"nil bulkhead", ok, []any{(*bulkhead.Bulkhead)(nil)}, "policy 0 (bulkhead)"},
		{"nil rate limit", ok, []any{(*ratelimit.Limiter)(nil)}, "policy 0 (rate limit)"},
		{"nil throttle", ok, []any{(*throttle.Throttle)(nil)}, "policy 0 (throttle)"},
		{"nil adaptive limit", ok, []any{(*adaptive.Limiter)(nil)}, "policy 0 (adaptive limit)"},
		{"a configuration, not a policy", ok, []any{breaker.Config{}}, "policy 0 (breaker.Config): it is not a policy"},
		{"a policy's value, not its pointer", ok, []any{retry.Policy{}}, "policy 0 (retry.Policy): it is not a policy"},
		{"nil PolicyFunc", ok, []any{breakwater.PolicyFunc(nil)}, "policy 0 (breakwater.PolicyFunc): it is nil"},
		{"nil pointer of a policy type", ok, []any{(*fieldPolicy)(nil)}, "policy 0 (*breakwater_test.fieldPolicy): its Apply panicked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := breakwater.Wrap(tt.fn, tt.policies...)
			if f != nil || !errors.Is(err, breakwater.ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Wrap: %v; want ErrInvalidPolicy mentioning %q", err, tt.want)
			}
			if _, err := breakwater.Execute(context.Background(), tt.fn, tt.policies...); !errors.Is(err, breakwater.ErrInvalidPolicy) {
				t.Fatalf("Execute: %v", err)
			}
			if tt.fn == nil || strings.Contains(tt.want, "Apply") {
				return // Compose has no function, and leaves Apply to the stack it joins
			}
			if p, err := breakwater.Compose(tt.policies...); p != nil || !errors.Is(err, breakwater.ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compose: %v; want ErrInvalidPolicy mentioning %q", err, tt.want)
			}
		})
	}
	if err := breakwater.Do(context.Background(), nil); !errors.Is(err, breakwater.ErrInvalidPolicy) {
		t.Fatalf("Do(nil): %v", err)
	}
}

// A result that means "try again" is a failure for every policy of the
// stack: the retry retries it, the breaker counts it; the result type is
// named once, where the stack is built.
func TestFailedResults(t *testing.T) {
	s := newStack(t, breaker.Config{}, retry.Config{MaxAttempts: 4})
	codes := []int{503, 503, 200}
	status := func(context.Context) (int, error) {
		c := codes[0]
		codes = codes[1:]
		return c, nil
	}
	var dropped []int
	results := breakwater.Results[int]{
		Failure: unavailable,
		Drop:    func(code int, _ error) { dropped = append(dropped, code) },
	}
	var got int
	var err error
	s.clk.Drive(func() {
		f, _ := breakwater.WrapWith(status, results, s.r, s.b)
		got, err = f(context.Background())
	})
	if got != 200 || err != nil || s.r.Metrics().Retries != 2 {
		t.Fatalf("got %v, %v after %d retries", got, err, s.r.Metrics().Retries)
	}
	if m := s.b.Metrics(); m.Failures != 2 || m.Successes != 1 {
		t.Fatalf("breaker counted %d failures and %d successes, want 2 and 1", m.Failures, m.Successes)
	}
	if len(dropped) != 2 || dropped[0] != 503 {
		t.Fatalf("dropped %v, want the two retried 503s", dropped)
	}
}

var errUnavailable = errors.New("503")

func unavailable(code int) error {
	if code >= 500 {
		return errUnavailable
	}
	return nil
}

// A failed result opens the circuit, typed or behind a policy of another
// package; the retry around it stops once the circuit opens, and the
// caller still gets the last result, with a nil error.
func TestFailedResultsOpenTheCircuit(t *testing.T) {
	for _, between := range []any{nil, testpolicy.Cap(10)} {
		s := newStack(t, breaker.Config{Trip: breaker.Consecutive(2)}, retry.Config{MaxAttempts: 5})
		calls := 0
		status := func(context.Context) (int, error) { calls++; return 503, nil }
		policies := []any{s.r, s.b}
		if between != nil {
			policies = []any{policies[0], between, policies[1]}
		}
		var got int
		var err error
		s.clk.Drive(func() {
			f, _ := breakwater.WrapWith(status, breakwater.Results[int]{Failure: unavailable}, policies...)
			got, err = f(context.Background())
		})
		if s.b.State() != breaker.Open || calls != 2 {
			t.Fatalf("between %v: state %v after %d calls; want open after 2", between, s.b.State(), calls)
		}
		if between == nil && (got != 503 || err != nil) {
			t.Fatalf("got %v, %v; want the last result", got, err)
		}
	}
}

// A full bulkhead in a stack turns the call away at once: the retry
// around it does not retry a rejection, and a fallback for rejections
// answers it.
func TestBulkheadInAStack(t *testing.T) {
	s := newStack(t, breaker.Config{}, retry.Config{MaxAttempts: 3})
	bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	slot, _ := bh.Allow(context.Background()) // the only slot is taken
	calls := 0
	fn := func(context.Context) (string, error) { calls++; return "fresh", nil }
	f, err := breakwater.WrapWith(fn, breakwater.Results[string]{Fallback: fallback.Value("cached").When(outcome.Rejected)},
		s.r, bh)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f(context.Background())
	if got != "cached" || err != nil || calls != 0 || s.r.Metrics().Retries != 0 {
		t.Fatalf("got %q, %v after %d calls and %d retries", got, err, calls, s.r.Metrics().Retries)
	}
	slot.Done(nil)
	if got, err := breakwater.Execute(context.Background(), fn, bh); got != "fresh" || err != nil {
		t.Fatalf("with a free slot: %q, %v", got, err)
	}
}

// A policy of another package that stops waiting for next (as a timeout
// does) and passes its call on leaves a run writing into that call after
// the call has returned: nothing it writes may reach a later call. (Before,
// a pooled holder handed to a later call took the abandoned run's result:
// 16 rounds in 20 returned another call's value.)
func TestAnAbandonedRunNeverWritesIntoAnotherCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		abandon := testpolicy.Abandon(10 * time.Millisecond)
		var n atomic.Int64
		fn, err := breakwater.Wrap(func(ctx context.Context) (int64, error) {
			i := n.Add(1)
			time.Sleep(15 * time.Millisecond) // every run outlives the policy's 10 ms
			return i, nil
		}, abandon)
		if err != nil {
			t.Fatal(err)
		}
		crossed := 0
		for range 20 {
			// The first call is abandoned at 10 ms, its run writes at 15;
			// the second starts at 13, is abandoned at 23: it has no result
			// of its own, and must not have the first's.
			fn(context.Background())
			time.Sleep(3 * time.Millisecond)
			if v, err := fn(context.Background()); err == nil || v != 0 {
				crossed++
			}
			time.Sleep(20 * time.Millisecond)
			synctest.Wait()
		}
		if crossed > 0 {
			t.Fatalf("%d of 20 abandoned calls returned a value, another call's", crossed)
		}
	})
}
