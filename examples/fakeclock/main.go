// Command fakeclock is a small client of a flaky price service, written as
// a user's own code would be: its policies take a clock, so that its tests
// (main_test.go) run 30-second cool-downs and seconds of backoff in
// microseconds, without sleeping.
//
//	go run ./examples/fakeclock
//	go test ./examples/fakeclock
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/retry"
)

// Prices asks a price service, through retries and a circuit breaker.
type Prices struct {
	lookup   func(context.Context, string) (float64, error)
	policies []any
}

// NewPrices returns a client of lookup on clk: clock.System in production,
// a fake in tests.
func NewPrices(lookup func(ctx context.Context, sku string) (float64, error), clk clock.Clock) (*Prices, error) {
	retries, err := retry.New(retry.Config{Name: "prices", MaxAttempts: 3, Delay: time.Second, Jitter: retry.JitterNone, Clock: clk})
	if err != nil {
		return nil, err
	}
	circuit, err := breaker.New(breaker.Config{Name: "prices", Trip: breaker.Consecutive(3), OpenDuration: 30 * time.Second, Clock: clk})
	if err != nil {
		return nil, err
	}
	return &Prices{lookup, []any{retries, circuit}}, nil
}

// Price returns the price of sku.
func (p *Prices) Price(ctx context.Context, sku string) (float64, error) {
	return breakwater.Execute(ctx, func(ctx context.Context) (float64, error) { return p.lookup(ctx, sku) }, p.policies...)
}

// flaky is a price service that fails its first calls.
type flaky struct{ failures, calls int }

func (f *flaky) lookup(_ context.Context, sku string) (float64, error) {
	if f.calls++; f.calls <= f.failures {
		return 0, errors.New("prices: 503")
	}
	return 9.99, nil
}

func main() {
	if err := run(os.Stdout, clock.System); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run asks a flaky price service for a price on clk, and says what it took.
func run(w io.Writer, clk clock.Clock) error {
	service := &flaky{failures: 2}
	prices, err := NewPrices(service.lookup, clk)
	if err != nil {
		return err
	}
	start := clk.Now()
	price, err := prices.Price(context.Background(), "apple")
	fmt.Fprintf(w, "apple costs %.2f (err %v), after %d calls and %v of backoff\n",
		price, err, service.calls, clk.Since(start).Round(100*time.Millisecond))
	return err
}
