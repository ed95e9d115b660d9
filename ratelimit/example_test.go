package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/ratelimit"
)

// A partner API allows 50 calls a second, in bursts of up to 10: the
// client keeps under it, waiting up to 200 ms for a token before giving up.
func Example() {
	partner, err := ratelimit.New(ratelimit.Config{Name: "partner-api", Rate: 50, Burst: 10, MaxWait: 200 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	err = partner.Do(context.Background(), func(ctx context.Context) error {
		return nil // call the partner API here
	})
	if errors.Is(err, ratelimit.ErrLimited) {
		wait, _ := outcome.RetryAfter(err)
		fmt.Println("over the partner's rate; a token in", wait)
		return
	}
	fmt.Println(err, partner.Metrics().Allowed)
	// Output: <nil> 1
}

// A limiter per client address: each gets 5 calls a second.
func ExampleNewRegistry() {
	clients, _ := ratelimit.NewRegistry(ratelimit.Config{Rate: 5, Burst: 5}, 0)
	ok := 0
	for range 8 {
		if clients.Get("203.0.113.7").Allow() {
			ok++
		}
	}
	fmt.Println(ok, "of 8 calls from one client went through")
	// Output: 5 of 8 calls from one client went through
}
