package registry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/registry"
	"github.com/breakwater-go/breakwater/retry"
)

// A protected client per host: the host's call under a retry and the
// host's own breaker, composed once when the host is first called and
// kept for the next calls to it.
func ExampleNew() {
	clk := clocktest.NewFake(time.Time{}) // a real program leaves Clock nil
	retries, _ := retry.New(retry.Config{Name: "hosts", MaxAttempts: 2, Clock: clk})
	breakers, _ := breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(2), Clock: clk}, 0)
	fetch := func(host string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { // the real call to host
			if host == "a.example" {
				return "", errors.New("connection refused")
			}
			return "hello from " + host, nil
		}
	}
	type client = func(context.Context) (string, error)
	clients, err := registry.New(registry.Config[client]{
		MaxKeys: 100,
		New: func(host string) client {
			c, _ := breakwater.Wrap(fetch(host), retries, breakers.Get(host))
			return c
		},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	clk.Drive(func() { // the fake clock runs through the retry's delay at once
		_, err = clients.Get("a.example")(ctx)
	})
	reply, _ := clients.Get("b.example")(ctx)
	fmt.Println(err != nil, breakers.Get("a.example").State(), reply, breakers.Get("b.example").State())
	// Output: true open hello from b.example closed
}
