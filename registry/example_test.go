package registry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/registry"
	"github.com/breakwater-go/breakwater/retry"
)

// A stack of one's own per host: a retry around the host's breaker, made
// on first use and kept for the next calls to that host.
func ExampleNew() {
	retries, _ := retry.New(retry.Config{Name: "hosts", MaxAttempts: 2, Delay: time.Millisecond})
	breakers, _ := breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(2)}, 0)
	type stack = func(context.Context, func(context.Context) error) error
	stacks, err := registry.New(registry.Config[stack]{
		MaxKeys: 100,
		New: func(host string) stack {
			policies := []breakwater.Policy{breakwater.Retry(retries), breakwater.Breaker(breakers.Get(host))}
			return func(ctx context.Context, fn func(context.Context) error) error {
				return breakwater.Do(ctx, fn, policies...)
			}
		},
	})
	if err != nil {
		panic(err)
	}
	down := errors.New("connection refused")
	err = stacks.Get("a.example")(context.Background(), func(context.Context) error { return down })
	fmt.Println(err != nil, breakers.Get("a.example").State(), breakers.Get("b.example").State())
	// Output: true open closed
}
