package breakwater_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/fallback"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/timeout"
)

// The timeline of a flaky call: retries with 1 s then 2 s of backoff, each
// attempt limited to 2 s, around a breaker that opens on 2 server errors
// and recovers after 20 s. A fake clock makes it run at once.
func Example() {
	clk := clocktest.NewFake(time.Time{})
	say := func(format string, args ...any) {
		fmt.Printf("T+%-3v ", clk.Since(clocktest.Epoch))
		fmt.Printf(format+"\n", args...)
	}
	b, _ := breaker.New(breaker.Config{
		Name: "payments-api", Trip: breaker.Consecutive(2), OpenDuration: 20 * time.Second,
		Ignore: []error{timeout.ErrTimeout}, // slow is not down: count server errors only
		Clock:  clk,
		Hooks:  breaker.Hooks{OnStateChange: func(c breaker.StateChange) { say("circuit %v -> %v", c.From, c.To) }},
	})
	r, _ := retry.New(retry.Config{
		MaxAttempts: 3, Delay: time.Second, Multiplier: 2, Jitter: retry.JitterNone, Clock: clk,
		Hooks: retry.Hooks{OnRetry: func(_ context.Context, e retry.RetryEvent) {
			say("attempt %d: %v; retry in %v", e.Attempt, e.Err, e.Delay)
		}},
	})
	perAttempt, _ := timeout.New(timeout.Config{Timeout: 2 * time.Second, Clock: clk})

	replies := []string{"502", "slow", "502"} // then 200
	charge := func(ctx context.Context) (string, error) {
		reply := "200"
		if len(replies) > 0 {
			reply, replies = replies[0], replies[1:]
		}
		switch reply {
		case "502":
			return "", errors.New("502 Bad Gateway")
		case "slow":
			clk.Advance(2 * time.Second) // the time limit passes while we work
			return "", ctx.Err()
		}
		return "charged", nil
	}

	// One line makes the call resilient; charge itself is unchanged.
	pay, _ := breakwater.Wrap(charge, r, b, perAttempt)

	clk.Drive(func() {
		_, err := pay(context.Background())
		say("call 1: %v", err)
	})
	clk.Set(clocktest.Epoch.Add(10 * time.Second))
	_, err := pay(context.Background())
	say("call 2: %v", err)
	clk.Set(clocktest.Epoch.Add(35 * time.Second))
	v, err := pay(context.Background())
	say("call 3: %v %v", v, err)
	// Output:
	// T+0s  attempt 1: 502 Bad Gateway; retry in 1s
	// T+3s  attempt 2: timeout: call took longer than 2s; retry in 2s
	// T+5s  circuit closed -> open
	// T+5s  call 1: retry: gave up after 3 attempts (retry: attempts exhausted): 502 Bad Gateway
	// T+10s call 2: breaker "payments-api": circuit open
	// T+25s circuit open -> half-open
	// T+35s circuit half-open -> closed
	// T+35s call 3: charged <nil>
}

// A handler's view: a cached answer while the circuit is open.
func ExampleResults_fallback() {
	b, _ := breaker.New(breaker.Config{Name: "recommendations", Trip: breaker.Consecutive(1)})
	b.Trip()

	recommend := func(ctx context.Context) ([]string, error) { return []string{"live"}, nil }
	cached := fallback.Value([]string{"cached"}).When(outcome.Rejected)

	get, _ := breakwater.WrapWith(recommend, breakwater.Results[[]string]{Fallback: cached}, b)
	v, err := get(context.Background())
	fmt.Println(v, err)
	// Output: [cached] <nil>
}

// A status that means "try again" is a failure for the whole stack: the
// retry retries it, the breaker counts it, and the answers retried are
// dropped. The caller gets the last answer as the function gave it.
func ExampleWrapWith() {
	r, _ := retry.New(retry.Config{MaxAttempts: 3, Delay: time.Millisecond, Jitter: retry.JitterNone})
	b, _ := breaker.New(breaker.Config{Name: "inventory"})
	statuses := []int{503, 503, 200}
	check := func(ctx context.Context) (int, error) {
		s := statuses[0]
		statuses = statuses[1:]
		return s, nil
	}
	get, _ := breakwater.WrapWith(check, breakwater.Results[int]{
		Failure: func(status int) error {
			if status == 503 {
				return errors.New("503 Service Unavailable")
			}
			return nil
		},
		Drop: func(status int, _ error) { fmt.Println("dropped", status) },
	}, r, b)
	status, err := get(context.Background())
	fmt.Println(status, err, b.Metrics().Failures)
	// Output:
	// dropped 503
	// dropped 503
	// 200 <nil> 2
}

func ExampleDo() {
	r, _ := retry.New(retry.Config{MaxAttempts: 3, Delay: time.Millisecond})
	b, _ := breaker.New(breaker.Config{Name: "mailer"})
	attempts := 0
	err := breakwater.Do(context.Background(), func(ctx context.Context) error {
		if attempts++; attempts < 2 {
			return errors.New("connection reset")
		}
		return nil
	}, r, b)
	fmt.Println(err, attempts)
	// Output: <nil> 2
}

// A policy of your own: an attempt counter that any stack can carry,
// beside the built-in policies. next is the layers inside it.
func ExamplePolicyFunc() {
	var attempts atomic.Int64
	counted := breakwater.PolicyFunc(func(next breakwater.Next) breakwater.Next {
		return func(ctx context.Context, call breakwater.Call) error {
			attempts.Add(1)
			return next(ctx, call) // call carries the result: pass it on
		}
	})
	retries, _ := retry.New(retry.Config{MaxAttempts: 3, Jitter: retry.JitterNone, Delay: time.Millisecond})
	failures := 2
	price := func(context.Context) (float64, error) {
		if failures > 0 {
			failures--
			return 0, errors.New("503")
		}
		return 9.99, nil
	}
	v, err := breakwater.Execute(context.Background(), price, retries, counted)
	fmt.Println(v, err, attempts.Load())
	// Output: 9.99 <nil> 3
}
