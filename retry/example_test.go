package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/breakwater-go/breakwater/outcome"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/retry"
)

// A flaky call retried with the default policy: 4 attempts, delays of
// about 1 s, 2 s and 4 s. The fake clock makes the delays pass at once.
func Example() {
	clk := clocktest.NewFake(time.Time{})
	p, _ := retry.New(retry.Config{
		Name:   "inventory",
		Clock:  clk,
		Jitter: retry.JitterNone, // exact delays, for the printout
		Hooks: retry.Hooks{OnRetry: func(_ context.Context, e retry.RetryEvent) {
			fmt.Printf("attempt %d failed (%v); retrying in %v\n", e.Attempt, e.Err, e.Delay)
		}},
	})
	attempts := 0
	call := func(ctx context.Context) error {
		attempts++
		if attempts < 3 {
			return errors.New("502 Bad Gateway")
		}
		return nil
	}
	clk.Drive(func() {
		err := p.Do(context.Background(), call)
		fmt.Printf("attempt %d: %v after %v\n", attempts, err, clk.Since(clocktest.Epoch))
	})
	// Output:
	// attempt 1 failed (502 Bad Gateway); retrying in 1s
	// attempt 2 failed (502 Bad Gateway); retrying in 2s
	// attempt 3: <nil> after 3s
}

func ExampleExecute() {
	p, _ := retry.New(retry.Config{MaxAttempts: 3, Delay: time.Millisecond, Jitter: retry.JitterFull})
	n := 0
	body, err := retry.Execute(context.Background(), p, func(ctx context.Context) (string, error) {
		if n++; n == 1 {
			return "", io.ErrUnexpectedEOF
		}
		return "hello", nil
	})
	fmt.Println(body, err, n)
	// Output: hello <nil> 2
}

// When the attempts run out, the error says why retrying stopped and still
// matches the last failure.
func ExampleError() {
	p, _ := retry.New(retry.Config{MaxAttempts: 2, Delay: time.Millisecond})
	err := p.Do(context.Background(), func(context.Context) error { return io.EOF })

	var re *retry.Error
	fmt.Println(errors.As(err, &re), re.Attempts)
	fmt.Println(errors.Is(err, retry.ErrExhausted), errors.Is(err, io.EOF))
	fmt.Println(err)
	// Output:
	// true 2
	// true true
	// retry: gave up after 2 attempts (retry: attempts exhausted): EOF
}

// Permanent stops at once; the error comes back unwrapped.
func ExamplePermanent() {
	p, _ := retry.New(retry.Config{})
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		return outcome.Permanent(errors.New("400 Bad Request"))
	})
	fmt.Println(err, calls)
	// Output: 400 Bad Request 1
}

// A server's Retry-After is honoured, past the policy's own MaxDelay, up to
// MaxRetryAfter.
func ExampleAfter() {
	clk := clocktest.NewFake(time.Time{})
	p, _ := retry.New(retry.Config{Clock: clk, Delay: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond, MaxRetryAfter: time.Minute})
	calls := 0
	clk.Drive(func() {
		p.Do(context.Background(), func(context.Context) error {
			if calls++; calls == 1 {
				return outcome.After(10*time.Second, errors.New("429 Too Many Requests"))
			}
			return nil
		})
	})
	fmt.Println(calls, clk.Since(clocktest.Epoch))
	// Output: 2 10s
}

// Retrying stops as soon as the circuit opens: breaker.ErrOpen is not
// retried.
func ExampleConfig_withBreaker() {
	b, _ := breaker.New(breaker.Config{Name: "ledger", Trip: breaker.Consecutive(2)})
	p, _ := retry.New(retry.Config{MaxAttempts: 5, Delay: time.Millisecond})
	calls := 0
	err := p.Do(context.Background(), func(ctx context.Context) error {
		return b.Do(ctx, func(context.Context) error { calls++; return errors.New("timeout") })
	})
	fmt.Println(calls, errors.Is(err, breaker.ErrOpen))
	// Output: 2 true
}

// One budget shared by every policy that calls the same service.
func ExampleNewBudget() {
	budget, _ := retry.NewBudget(retry.BudgetConfig{MaxTokens: 10, TokenRatio: 0.1})
	reads, _ := retry.New(retry.Config{Name: "users-read", Budget: budget})
	writes, _ := retry.New(retry.Config{Name: "users-write", Budget: budget, MaxAttempts: 2})
	fmt.Println(reads.Name(), writes.Name(), budget.Metrics().Tokens)
	// Output: users-read users-write 10
}
