package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
)

// The mission's scenario: three failures open the circuit, calls fail fast
// while it is open, and after 30 s a successful probe closes it. A fake
// clock stands in for the 30 s.
func Example() {
	clk := clocktest.NewFake(time.Time{})
	b, _ := breaker.New(breaker.Config{
		Name:  "payments-api",
		Clock: clk,
		Hooks: breaker.Hooks{OnStateChange: func(c breaker.StateChange) {
			fmt.Printf("  %s: %v -> %v\n", c.Name, c.From, c.To)
		}},
	})
	ctx := context.Background()
	down := errors.New("503 Service Unavailable")

	for i := 1; i <= 3; i++ {
		err := b.Do(ctx, func(context.Context) error { return down })
		fmt.Printf("call %d: %v\n", i, err)
	}
	clk.Advance(10 * time.Second)
	err := b.Do(ctx, func(context.Context) error { panic("not called while open") })
	fmt.Printf("call 4: %v (is ErrOpen: %v)\n", err, errors.Is(err, breaker.ErrOpen))

	clk.Advance(20 * time.Second)
	err = b.Do(ctx, func(context.Context) error { return nil })
	fmt.Printf("call 5: %v, state %v\n", err, b.State())
	// Output:
	// call 1: 503 Service Unavailable
	// call 2: 503 Service Unavailable
	//   payments-api: closed -> open
	// call 3: 503 Service Unavailable
	// call 4: breaker "payments-api": circuit open (is ErrOpen: true)
	//   payments-api: open -> half-open
	//   payments-api: half-open -> closed
	// call 5: <nil>, state closed
}

func ExampleBreaker_Do() {
	b, err := breaker.New(breaker.Config{Name: "search"})
	if err != nil {
		panic(err)
	}
	err = b.Do(context.Background(), func(ctx context.Context) error {
		return nil // call the dependency here, passing ctx along
	})
	fmt.Println(err, b.State())
	// Output: <nil> closed
}

// Allow and Done protect a block of code that is not a function of its own.
func ExampleBreaker_Allow() {
	b, _ := breaker.New(breaker.Config{Name: "inventory"})

	permit, err := b.Allow(context.Background())
	if err != nil {
		fmt.Println("skipped:", err) // the circuit is open: fail fast
		return
	}
	// ... the protected block ...
	var callErr error
	permit.Done(callErr)

	fmt.Println(b.Metrics().Successes)
	// Output: 1
}

// A failure-rate breaker over a sliding window of the last 20 calls, with
// slow calls counted too and an open duration that doubles on repeated
// trips.
func ExampleNew_failureRate() {
	b, err := breaker.New(breaker.Config{
		Name:                   "orders-db",
		Trip:                   breaker.CountWindow{Size: 20, FailureRate: 0.5, SlowCallRate: 0.8, MinCalls: 10},
		SlowCallDuration:       2 * time.Second,
		OpenDuration:           10 * time.Second,
		OpenDurationMultiplier: 2,
		MaxOpenDuration:        5 * time.Minute,
		HalfOpen:               breaker.Probes{Max: 3},
	})
	fmt.Println(b.State(), err)

	_, err = breaker.New(breaker.Config{Trip: breaker.CountWindow{Size: 20, FailureRate: 50}})
	fmt.Println(err)
	// Output:
	// closed <nil>
	// breaker: invalid Config.Trip.FailureRate: must be in [0, 1], got 50
}

// A registry hands out one breaker per downstream host.
func ExampleRegistry() {
	hosts, _ := breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(5)}, 0)

	b := hosts.Get("api.example.com")
	_ = b.Do(context.Background(), func(context.Context) error { return nil })

	for _, b := range hosts.All() {
		m := b.Metrics()
		fmt.Println(m.Name, m.State, m.Calls)
	}
	// Output: api.example.com closed 1
}

func ExampleBreaker_ForceOpen() {
	b, _ := breaker.New(breaker.Config{Name: "legacy-billing"})
	b.ForceOpen() // an operator takes the dependency out of service
	fmt.Println(b.Do(context.Background(), func(context.Context) error { return nil }))
	b.Reset()
	fmt.Println(b.State())
	// Output:
	// breaker "legacy-billing": circuit forced open
	// closed
}

// Rolling a breaker out in shadow mode: it runs every call, and says what
// it would have done — here, that it would have tripped and turned the
// fourth call away. Once its decisions look right in the logs and
// metrics, drop Shadow to enforce them.
func ExampleConfig_shadow() {
	b, _ := breaker.New(breaker.Config{
		Name:   "recommendations",
		Shadow: true,
		Hooks: breaker.Hooks{
			OnStateChange: func(c breaker.StateChange) {
				fmt.Printf("would go %v -> %v (%v)\n", c.From, c.To, c.Reason)
			},
			OnReject: func(_ context.Context, e breaker.RejectEvent) {
				fmt.Printf("would reject a call (%v, shadow %v)\n", e.State, e.Shadow)
			},
		},
	})
	down := errors.New("503 Service Unavailable")
	ran := 0
	for range 4 {
		_ = b.Do(context.Background(), func(context.Context) error { ran++; return down })
	}
	m := b.Metrics()
	fmt.Printf("ran %d of 4 calls; state %v, %d would-be rejection\n", ran, m.State, m.Rejections)
	// Output:
	// would go closed -> open (consecutive-failures)
	// would reject a call (open, shadow true)
	// ran 4 of 4 calls; state open, 1 would-be rejection
}
