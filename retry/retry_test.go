package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/attempt"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/retry"
)

var errFlaky = errors.New("503 Service Unavailable")

// newPolicy returns a policy on a fake clock, without jitter unless cfg
// says otherwise, recording the delays it sleeps.
func newPolicy(t *testing.T, cfg retry.Config) (*retry.Policy, *clocktest.Fake, *[]time.Duration) {
	t.Helper()
	clk := clocktest.NewFake(time.Time{})
	cfg.Clock = clk
	if cfg.Jitter == retry.JitterProportional && cfg.JitterFactor == 0 && cfg.Rand == nil {
		cfg.Jitter = retry.JitterNone
	}
	delays := new([]time.Duration)
	onRetry := cfg.Hooks.OnRetry
	cfg.Hooks.OnRetry = func(ctx context.Context, e retry.RetryEvent) {
		*delays = append(*delays, e.Delay)
		if onRetry != nil {
			onRetry(ctx, e)
		}
	}
	p, err := retry.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p, clk, delays
}

// failing returns a function that fails n times with err, then succeeds,
// counting its calls.
func failing(n int, err error) (func(context.Context) error, *int) {
	calls := new(int)
	return func(context.Context) error {
		*calls++
		if *calls <= n {
			return err
		}
		return nil
	}, calls
}

func TestRecoversAfterRetries(t *testing.T) {
	p, clk, delays := newPolicy(t, retry.Config{})
	fn, calls := failing(2, errFlaky)
	var err error
	clk.Drive(func() { err = p.Do(context.Background(), fn) })
	if err != nil || *calls != 3 {
		t.Fatalf("err %v after %d calls; want success on the 3rd", err, *calls)
	}
	if want := []time.Duration{time.Second, 2 * time.Second}; !reflect.DeepEqual(*delays, want) {
		t.Fatalf("delays %v, want %v", *delays, want)
	}
	if got := clk.Since(clocktest.Epoch); got != 3*time.Second {
		t.Fatalf("took %v of fake time, want 3s", got)
	}
	m := p.Metrics()
	if m.Calls != 1 || m.Retries != 2 || m.SucceededAfterRetry != 1 || m.Exhausted != 0 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestDefaultsAreThreeRetriesOneTwoFourSeconds(t *testing.T) {
	p, clk, delays := newPolicy(t, retry.Config{})
	fn, calls := failing(100, io.EOF)
	var err error
	clk.Drive(func() { err = p.Do(context.Background(), fn) })
	if *calls != 4 {
		t.Fatalf("%d attempts, want 4 (the first and 3 retries)", *calls)
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}; !reflect.DeepEqual(*delays, want) {
		t.Fatalf("delays %v, want %v", *delays, want)
	}
	var re *retry.Error
	if !errors.As(err, &re) || re.Attempts != 4 {
		t.Fatalf("err = %v, want *retry.Error with 4 attempts", err)
	}
	if !errors.Is(err, retry.ErrExhausted) || !errors.Is(err, io.EOF) {
		t.Fatalf("err %v must match both ErrExhausted and the last error", err)
	}
	if want := "retry: gave up after 4 attempts (retry: attempts exhausted): EOF"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	if m := p.Metrics(); m.Exhausted != 1 || m.Retries != 3 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestMaxAttemptsOneMeansNoRetry(t *testing.T) {
	p, _, _ := newPolicy(t, retry.Config{MaxAttempts: 1})
	fn, calls := failing(5, errFlaky)
	err := p.Do(context.Background(), fn)
	if *calls != 1 || !errors.Is(err, retry.ErrExhausted) {
		t.Fatalf("%d calls, err %v", *calls, err)
	}
}

func TestMaxElapsedStopsBeforeOversleeping(t *testing.T) {
	// Delays 1s, 2s, 4s: after 3s, a 4s delay would end at 7s > 5s.
	p, clk, delays := newPolicy(t, retry.Config{MaxAttempts: 10, MaxElapsed: 5 * time.Second})
	fn, calls := failing(100, errFlaky)
	var err error
	clk.Drive(func() { err = p.Do(context.Background(), fn) })
	if *calls != 3 || len(*delays) != 2 {
		t.Fatalf("%d calls, delays %v; want 3 calls after 1s and 2s", *calls, *delays)
	}
	if !errors.Is(err, retry.ErrMaxElapsed) || !errors.Is(err, errFlaky) {
		t.Fatalf("err = %v", err)
	}
	if got := clk.Since(clocktest.Epoch); got != 3*time.Second {
		t.Fatalf("slept %v, want 3s", got)
	}
}

func TestContextDeadlineStopsBeforeOversleeping(t *testing.T) {
	clk := clocktest.NewFake(time.Now()) // context deadlines are wall-clock times
	p, err := retry.New(retry.Config{Clock: clk, Jitter: retry.JitterNone, MaxAttempts: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), clk.Now().Add(time.Hour+2500*time.Millisecond))
	defer cancel()
	clk.Advance(time.Hour) // 2.5s left on the fake clock
	fn, calls := failing(100, errFlaky)
	clk.Drive(func() { err = p.Do(ctx, fn) })
	if *calls != 2 { // 1s fits, then 2s would end at 3s > 2.5s
		t.Fatalf("%d calls, want 2", *calls)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errFlaky) {
		t.Fatalf("err = %v", err)
	}
}

func TestCancelDuringDelayReturnsAtOnce(t *testing.T) {
	p, clk, _ := newPolicy(t, retry.Config{Delay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Do(ctx, func(context.Context) error { return errFlaky }) }()
	if err := clk.WaitForTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel() // the clock never moves: only the cancellation can end the sleep
	err := <-done
	var re *retry.Error
	if !errors.As(err, &re) || re.Attempts != 1 || !errors.Is(err, context.Canceled) || !errors.Is(err, errFlaky) {
		t.Fatalf("err = %v; want an *Error with the cause and the last failure", err)
	}
	if len(clk.Deadlines()) != 0 {
		t.Fatal("the cancelled delay left a timer behind")
	}
}

func TestDoneContextIsNotCalled(t *testing.T) {
	p, _, _ := newPolicy(t, retry.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fn, calls := failing(0, nil)
	if err := p.Do(ctx, fn); !errors.Is(err, context.Canceled) || *calls != 0 {
		t.Fatalf("err %v after %d calls", err, *calls)
	}
}

func TestWhatIsRetried(t *testing.T) {
	errThrottled := errors.New("throttled")
	var openErr error = &breaker.OpenError{Name: "x", State: breaker.Open}
	tests := []struct {
		name      string
		cfg       retry.Config
		err       error
		wantCalls int
		wantErr   error // matched with errors.Is; exact value when wantSame
		wantSame  bool  // the error comes back unchanged, not as an *Error
	}{
		{"any error by default", retry.Config{}, errFlaky, 4, retry.ErrExhausted, false},
		{"permanent", retry.Config{}, outcome.Permanent(io.EOF), 1, io.EOF, true},
		{"wrapped permanent", retry.Config{}, fmt.Errorf("read: %w", outcome.Permanent(io.EOF)), 1, io.EOF, false},
		{"do-not-retry list", retry.Config{DoNotRetryOn: []error{io.EOF}}, io.EOF, 1, io.EOF, true},
		{"do-not-retry beats retry-on", retry.Config{RetryOn: []error{io.EOF}, DoNotRetryOn: []error{io.EOF}}, io.EOF, 1, io.EOF, true},
		{"retry-on list", retry.Config{RetryOn: []error{errThrottled}}, errThrottled, 4, retry.ErrExhausted, false},
		{"not on retry-on list", retry.Config{RetryOn: []error{errThrottled}}, io.EOF, 1, io.EOF, true},
		{"predicate yes", retry.Config{RetryIf: func(err error) bool { return err == errThrottled }}, errThrottled, 4, retry.ErrExhausted, false},
		{"predicate no", retry.Config{RetryIf: func(err error) bool { return err == errThrottled }}, errFlaky, 1, errFlaky, true},
		{"open circuit", retry.Config{}, openErr, 1, openErr, true},
		{"open circuit, even if the predicate says yes", retry.Config{RetryIf: func(error) bool { return true }}, openErr, 1, openErr, true},
		{"open circuit listed in retry-on", retry.Config{RetryOn: []error{breaker.ErrOpen}}, openErr, 4, retry.ErrExhausted, false},
		{"server says do not retry", retry.Config{}, outcome.After(-1, errThrottled), 1, retry.ErrExhausted, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, clk, _ := newPolicy(t, tt.cfg)
			fn, calls := failing(100, tt.err)
			var err error
			clk.Drive(func() { err = p.Do(context.Background(), fn) })
			if *calls != tt.wantCalls {
				t.Fatalf("%d calls, want %d", *calls, tt.wantCalls)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v does not match %v", err, tt.wantErr)
			}
			var re *retry.Error
			if tt.wantSame && (err != tt.wantErr || errors.As(err, &re)) {
				t.Fatalf("err %#v, want %v itself", err, tt.wantErr)
			}
		})
	}
}

func TestRetryResult(t *testing.T) {
	type response struct{ status int }
	opts := retry.Options[response]{RetryResult: func(r response) bool { return r.status == 503 }}
	p, clk, delays := newPolicy(t, retry.Config{})
	statuses := []int{503, 503, 200}
	var got response
	var err error
	clk.Drive(func() {
		got, err = retry.ExecuteWith(context.Background(), p, opts, func(context.Context) (response, error) {
			r := response{statuses[0]}
			statuses = statuses[1:]
			return r, nil
		})
	})
	if err != nil || got.status != 200 || len(*delays) != 2 {
		t.Fatalf("got %+v, %v after delays %v", got, err, *delays)
	}

	// When attempts run out, the last result comes back, without an error.
	p, clk, _ = newPolicy(t, retry.Config{MaxAttempts: 2})
	clk.Drive(func() {
		got, err = retry.ExecuteWith(context.Background(), p, opts, func(context.Context) (response, error) { return response{503}, nil })
	})
	if err != nil || got.status != 503 || p.Metrics().Exhausted != 1 {
		t.Fatalf("got %+v, %v; metrics %+v", got, err, p.Metrics())
	}
}

// Unlimited attempts are bounded by MaxElapsed alone.
func TestUnlimitedAttemptsStopAtMaxElapsed(t *testing.T) {
	p, clk, delays := newPolicy(t, retry.Config{MaxAttempts: retry.Unlimited, MaxElapsed: time.Hour, Multiplier: 1, NoBudget: true})
	fn, calls := failing(1_000_000, errFlaky)
	var err error
	clk.Drive(func() { err = p.Do(context.Background(), fn) })
	// 1 s apart: the attempt at 3600 s is the last whose delay fits.
	if *calls != 3601 || len(*delays) != 3600 || !errors.Is(err, retry.ErrMaxElapsed) {
		t.Fatalf("%d calls, %d delays, err %v", *calls, len(*delays), err)
	}
}

// AbortIf stops at once, with the attempt's result and error as they are.
func TestAbortIf(t *testing.T) {
	type response struct{ status int }
	opts := retry.Options[response]{
		RetryResult: func(r response) bool { return r.status >= 500 },
		AbortIf:     func(r response, err error) bool { return r.status == 501 || errors.Is(err, io.ErrUnexpectedEOF) },
	}
	tests := []struct {
		name    string
		answers []response
		errs    []error
		want    response
		wantErr error
		calls   int
	}{
		{"result aborts", []response{{503}, {501}, {200}}, []error{nil, nil, nil}, response{501}, nil, 2},
		{"error aborts, unmarked", []response{{0}, {0}}, []error{errFlaky, outcome.Retryable(io.ErrUnexpectedEOF)}, response{0}, io.ErrUnexpectedEOF, 2},
		{"otherwise retries", []response{{503}, {200}}, []error{nil, nil}, response{200}, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, clk, _ := newPolicy(t, retry.Config{})
			calls := 0
			var got response
			var err error
			clk.Drive(func() {
				got, err = retry.ExecuteWith(context.Background(), p, opts, func(context.Context) (response, error) {
					calls++
					return tt.answers[calls-1], tt.errs[calls-1]
				})
			})
			if got != tt.want || err != tt.wantErr || calls != tt.calls {
				t.Fatalf("got %+v, %v after %d calls; want %+v, %v after %d", got, err, calls, tt.want, tt.wantErr, tt.calls)
			}
		})
	}
}

func TestRetryAfterHintIsHonouredAndCapped(t *testing.T) {
	// The server's delay is honoured past the policy's own MaxDelay (gRFC
	// A6: retry after exactly the pushback), up to MaxRetryAfter.
	p, clk, delays := newPolicy(t, retry.Config{Delay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, MaxRetryAfter: 10 * time.Second})
	hints := []error{outcome.After(7*time.Second, errFlaky), outcome.After(484289*time.Hour, errFlaky), outcome.After(0, errFlaky)}
	n := 0
	var err error
	clk.Drive(func() {
		err = p.Do(context.Background(), func(context.Context) error {
			if n == len(hints) {
				return nil
			}
			n++
			return hints[n-1]
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{7 * time.Second, 10 * time.Second, 0}; !reflect.DeepEqual(*delays, want) {
		t.Fatalf("delays %v, want %v", *delays, want)
	}
}

func TestRetryAfterHintBeyondTimeBudgetStops(t *testing.T) {
	p, clk, _ := newPolicy(t, retry.Config{MaxElapsed: 30 * time.Second, MaxDelay: time.Minute})
	var err error
	clk.Drive(func() {
		err = p.Do(context.Background(), func(context.Context) error { return outcome.After(time.Minute, errFlaky) })
	})
	if !errors.Is(err, retry.ErrMaxElapsed) {
		t.Fatalf("err = %v", err)
	}
}

func TestHooks(t *testing.T) {
	var log []string
	p, clk, _ := newPolicy(t, retry.Config{MaxAttempts: 3, Name: "search", Hooks: retry.Hooks{
		OnRetry: func(_ context.Context, e retry.RetryEvent) {
			log = append(log, fmt.Sprintf("%s retry after attempt %d (%v) in %v", e.Name, e.Attempt, e.Err, e.Delay))
		},
		OnGiveUp: func(_ context.Context, e retry.GiveUpEvent) {
			log = append(log, fmt.Sprintf("%s gave up after %d: %v / %v", e.Name, e.Attempts, e.Cause, e.Err))
		},
	}})
	clk.Drive(func() { p.Do(context.Background(), func(context.Context) error { return io.EOF }) })
	want := []string{
		"search retry after attempt 1 (EOF) in 1s",
		"search retry after attempt 2 (EOF) in 2s",
		"search gave up after 3: retry: attempts exhausted / EOF",
	}
	if !reflect.DeepEqual(log, want) {
		t.Fatalf("hooks:\n%q\nwant\n%q", log, want)
	}
}

func TestBudgetStopsARetryStorm(t *testing.T) {
	budget, err := retry.NewBudget(retry.BudgetConfig{NoFloor: true}) // the token rule alone
	if err != nil {
		t.Fatal(err)
	}
	// Two policies (two call sites of one service) share the budget.
	a, clkA, _ := newPolicy(t, retry.Config{Budget: budget})
	b, clkB, _ := newPolicy(t, retry.Config{Budget: budget})
	const calls = 100
	attempts := 0
	down := func(context.Context) error { attempts++; return errFlaky }
	budgetStops := 0
	for i := 0; i < calls; i++ {
		p, clk := a, clkA
		if i%2 == 1 {
			p, clk = b, clkB
		}
		var err error
		clk.Drive(func() { err = p.Do(context.Background(), down) })
		if errors.Is(err, retry.ErrBudgetExhausted) {
			budgetStops++
		}
	}
	// Without a budget: 4 attempts per call, 400 in all. With it, every
	// failed attempt takes one of the 10 tokens and retries stop at half:
	// the first call's 4 attempts leave 6 tokens, the second call's first
	// attempt 5, and no call retries after that.
	if attempts != calls+3 {
		t.Fatalf("%d attempts for %d calls, want %d", attempts, calls, calls+3)
	}
	if budgetStops < calls-2 || budget.Metrics().Denied != uint64(budgetStops) {
		t.Fatalf("%d calls stopped by the budget, %d denials", budgetStops, budget.Metrics().Denied)
	}
	if got := a.Metrics().BudgetDenied + b.Metrics().BudgetDenied; got != budget.Metrics().Denied {
		t.Fatalf("policies count %d denials, the budget %d", got, budget.Metrics().Denied)
	}

	// Successes refill it: 0.1 token each.
	tokens := budget.Metrics().Tokens
	for i := 0; i < 70; i++ {
		a.Do(context.Background(), func(context.Context) error { return nil })
	}
	if got := budget.Metrics().Tokens; math.Abs(got-min(tokens+7, 10)) > 1e-9 {
		t.Fatalf("tokens %v after 70 successes, want %v", got, min(tokens+7, 10))
	}
	// And retries are allowed again.
	fn, n := failing(1, errFlaky)
	clkA.Drive(func() { err = a.Do(context.Background(), fn) })
	if err != nil || *n != 2 {
		t.Fatalf("after refilling: err %v, %d calls", err, *n)
	}
}

func TestDelayAndBudgetForOtherLoops(t *testing.T) {
	tokenRule, _ := retry.NewBudget(retry.BudgetConfig{NoFloor: true})
	p, _, _ := newPolicy(t, retry.Config{MaxDelay: 5 * time.Second, Budget: tokenRule})
	var got []time.Duration
	for n := 1; n <= 4; n++ {
		got = append(got, p.Delay(n, 0))
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second}; !reflect.DeepEqual(got, want) {
		t.Fatalf("delays %v, want %v", got, want)
	}
	b := p.Budget()
	for i := 0; i < 4; i++ {
		b.RecordFailure()
	}
	if !b.AllowRetry() {
		t.Fatal("6 of 10 tokens left: a retry is allowed")
	}
	b.RecordFailure()
	if b.AllowRetry() || b.Metrics().Denied != 1 {
		t.Fatal("5 of 10 tokens left: no retry")
	}
	b.RecordSuccess()
	if !b.AllowRetry() {
		t.Fatal("5.1 tokens: a retry is allowed again")
	}
}

func TestNoBudgetRetriesEverything(t *testing.T) {
	p, clk, _ := newPolicy(t, retry.Config{NoBudget: true})
	attempts := 0
	for i := 0; i < 20; i++ {
		clk.Drive(func() { p.Do(context.Background(), func(context.Context) error { attempts++; return errFlaky }) })
	}
	if attempts != 80 {
		t.Fatalf("%d attempts, want 80", attempts)
	}
	if p.Metrics().BudgetTokens != 0 {
		t.Fatal("a policy without a budget reports tokens")
	}
}

func TestConcurrentCallsShareAPolicy(t *testing.T) {
	p, err := retry.New(retry.Config{Delay: time.Nanosecond, MaxDelay: time.Nanosecond, NoBudget: true})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				fn, _ := failing(i%3, errFlaky)
				if err := p.Do(context.Background(), fn); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	m := p.Metrics()
	// Per goroutine, i%3 failures before success: 67×0 + 67×1 + 66×2 retries.
	if m.Calls != 16*200 || m.Retries != 16*(67+66*2) || m.SucceededAfterRetry != 16*(67+66) {
		t.Fatalf("metrics %+v", m)
	}
}

func TestInvalidConfigNamesTheField(t *testing.T) {
	tests := []struct {
		give  retry.Config
		field string
	}{
		{retry.Config{MaxAttempts: -2}, "MaxAttempts"},
		{retry.Config{MaxAttempts: retry.Unlimited}, "MaxAttempts"},
		{retry.Config{JitterDuration: -time.Second}, "JitterDuration"},
		{retry.Config{JitterDuration: time.Second, JitterFactor: 0.2}, "JitterDuration"},
		{retry.Config{JitterDuration: time.Second, Jitter: retry.JitterFull}, "JitterDuration"},
		{retry.Config{Jitter: retry.JitterRandom}, "MaxDelay"},
		{retry.Config{MaxElapsed: -time.Second}, "MaxElapsed"},
		{retry.Config{Delay: -time.Second}, "Delay"},
		{retry.Config{Multiplier: 0.5}, "Multiplier"},
		{retry.Config{Multiplier: math.NaN()}, "Multiplier"},
		{retry.Config{MaxDelay: -1}, "MaxDelay"},
		{retry.Config{Delay: time.Minute, MaxDelay: time.Second}, "MaxDelay"},
		{retry.Config{Jitter: 42}, "Jitter"},
		{retry.Config{JitterFactor: 1.5}, "JitterFactor"},
		{retry.Config{JitterFactor: 0.1, Jitter: retry.JitterFull}, "JitterFactor"},
		{retry.Config{RetryOn: []error{nil}}, "RetryOn[0]"},
		{retry.Config{DoNotRetryOn: []error{io.EOF, nil}}, "DoNotRetryOn[1]"},
		{retry.Config{NoBudget: true, Budget: &retry.Budget{}}, "NoBudget"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			p, err := retry.New(tt.give)
			var ce *config.Error
			if p != nil || !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("New(%+v) = %v, %v; want a config.Error for %s", tt.give, p, err, tt.field)
			}
			if !strings.Contains(err.Error(), "Config."+tt.field) {
				t.Fatalf("message %q does not name the field", err)
			}
		})
	}
	for _, bc := range []retry.BudgetConfig{{MaxTokens: -1}, {MaxTokens: 1001}, {TokenRatio: 2}, {TokenRatio: math.NaN()}} {
		if _, err := retry.NewBudget(bc); !errors.Is(err, config.ErrInvalid) {
			t.Errorf("NewBudget(%+v) = %v", bc, err)
		}
	}
}

func TestJitterNames(t *testing.T) {
	for j, want := range map[retry.Jitter]string{
		retry.JitterProportional: "proportional", retry.JitterNone: "none", retry.JitterFull: "full",
		retry.JitterEqual: "equal", retry.JitterDecorrelated: "decorrelated", retry.JitterRandom: "random",
		retry.Jitter(9): "jitter(9)",
	} {
		if j.String() != want {
			t.Errorf("%d: %q, want %q", int(j), j.String(), want)
		}
	}
}

// The default budget keeps a low-volume caller's retries: ten calls, each
// failing its first attempt and passing its second, all retry. (Before,
// on the token rule alone, calls 6 to 10 got "retry budget exhausted".)
// A flood is still stopped: past the floor's 10, retries come at its rate.
func TestBudgetFloorKeepsAFewCallersRetries(t *testing.T) {
	p, clk, _ := newPolicy(t, retry.Config{})
	for i := range 10 {
		fn, n := failing(1, errFlaky)
		var err error
		clk.Drive(func() { err = p.Do(context.Background(), fn) })
		if err != nil || *n != 2 {
			t.Fatalf("call %d: %v after %d attempts, want success on the retry", i+1, err, *n)
		}
	}
	b := p.Budget()
	if b.Metrics().Floored == 0 || b.Metrics().Denied != 0 {
		t.Fatalf("floored %d, denied %d: the floor should have carried the last calls", b.Metrics().Floored, b.Metrics().Denied)
	}
	// A flood of failures: the floor's burst is spent, then one retry a
	// second, however many calls fail.
	for range 10 {
		b.RecordFailure() // the tokens are gone
	}
	for range 10 {
		b.AllowRetry() // and so is what is left of the floor's burst
	}
	allowed := 0
	for range 100 {
		b.RecordFailure()
		if b.AllowRetry() {
			allowed++
		}
	}
	if allowed != 0 {
		t.Fatalf("%d retries allowed in a flood with the floor spent", allowed)
	}
	clk.Advance(time.Second)
	if !b.AllowRetry() || b.AllowRetry() {
		t.Fatal("a second later the floor has exactly one retry")
	}
	if _, err := retry.NewBudget(retry.BudgetConfig{MinRetriesPerSecond: -1}); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("MinRetriesPerSecond -1: %v", err)
	}
	if _, err := retry.NewBudget(retry.BudgetConfig{MinRetriesPerSecond: 2, NoFloor: true}); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("MinRetriesPerSecond with NoFloor: %v", err)
	}
}

func TestErrorKeepsEveryAttemptsError(t *testing.T) {
	errA, errB := errors.New("a"), errors.New("b")
	var seen []attempt.Info
	p, err := retry.New(retry.Config{MaxAttempts: 3, Backoff: func(int, error) time.Duration { return 0 }, NoBudget: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = p.Do(context.Background(), func(ctx context.Context) error {
		seen = append(seen, attempt.From(ctx))
		n++
		if n == 1 {
			return errA
		}
		return errB
	})
	var re *retry.Error
	if !errors.As(err, &re) || len(re.Errors) != 3 || re.Errors[0] != errA || re.Errors[2] != errB {
		t.Fatalf("error %v: want every attempt's error", err)
	}
	if !errors.Is(err, errA) || !errors.Is(err, errB) || !errors.Is(err, retry.ErrExhausted) {
		t.Fatalf("errors.Is does not match each attempt's error in %v", err)
	}
	want := []attempt.Info{{Number: 1, Kind: attempt.First}, {Number: 2, Kind: attempt.Retry}, {Number: 3, Kind: attempt.Retry}}
	if !slices.Equal(seen, want) {
		t.Fatalf("attempts seen %v, want %v", seen, want)
	}
}

func TestErrorHistoryIsBounded(t *testing.T) {
	p, err := retry.New(retry.Config{MaxAttempts: 100, Backoff: func(int, error) time.Duration { return 0 }, NoBudget: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = p.Do(context.Background(), func(ctx context.Context) error {
		n++
		return fmt.Errorf("attempt %d", n)
	})
	var re *retry.Error
	if !errors.As(err, &re) || len(re.Errors) != 16 {
		t.Fatalf("kept %d errors, want %d", len(re.Errors), 16)
	}
	first, last := re.Errors[0].Error(), re.Errors[16-1].Error()
	if first != "attempt 1" || last != "attempt 100" || re.Errors[16/2].Error() != "attempt 93" {
		t.Fatalf("kept %v", re.Errors)
	}
}
