// Command recommended calls a flaky HTTP server on 127.0.0.1 through the
// recommended stack — an overall timeout, retries with their budget, a
// circuit breaker, an adaptive concurrency limit and a per-attempt timeout
// — while the server goes down for a second and comes back, and prints
// what the callers got and what reached the server in each phase; then the
// same through retries alone, without a budget, for comparison. Time
// constants are a tenth of a service's (the circuit opens for 500 ms, not
// 5 s) so that it runs in about three seconds.
//
//	go run ./examples/recommended
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/timeout"
)

func main() {
	if err := scenario(os.Stdout, time.Second); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// phase is what one phase of the scenario counted.
type phase struct {
	name                          string
	requests, succeeded, rejected atomic.Int64 // rejected: turned away at once by the circuit or the limit
	reached                       atomic.Int64 // attempts that reached the server
}

// scenario plays three phases of the given length: the server up, down
// (every request answered 503 after 20 ms), up again.
func scenario(out io.Writer, length time.Duration) error {
	var down atomic.Bool
	var current atomic.Pointer[phase]
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		current.Load().reached.Add(1)
		if down.Load() {
			time.Sleep(20 * time.Millisecond)
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		time.Sleep(2 * time.Millisecond)
		fmt.Fprint(w, "order 42")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/order"

	call := func(ctx context.Context) (string, error) { return fetch(ctx, url) }
	recommended, err := recommendedStack(call, length)
	if err != nil {
		return err
	}
	retries, err := retry.New(retry.Config{Name: "alone", MaxAttempts: 4, Delay: 10 * time.Millisecond, NoBudget: true})
	if err != nil {
		return err
	}
	alone, err := breakwater.Wrap(call, retries)
	if err != nil {
		return err
	}
	for _, stack := range []struct {
		name string
		get  func(context.Context) (string, error)
	}{{"the recommended stack", recommended}, {"retries alone, without a budget", alone}} {
		fmt.Fprintf(out, "%s:\n", stack.name)
		play(out, stack.get, length, &down, &current)
	}
	return nil
}

// play calls get from four goroutines through the three phases.
func play(out io.Writer, get func(context.Context) (string, error), length time.Duration, down *atomic.Bool, current *atomic.Pointer[phase]) {
	fmt.Fprintf(out, "  %-5s %8s %10s %9s %8s %9s\n", "phase", "requests", "succeeded", "rejected", "reached", "per req.")
	for _, p := range []*phase{{name: "up"}, {name: "down"}, {name: "up"}} {
		current.Store(p)
		down.Store(p.name == "down")
		var wg sync.WaitGroup
		stop := time.Now().Add(length)
		for range 4 { // four callers, one request every 10 ms each
			wg.Go(func() {
				for time.Now().Before(stop) {
					p.requests.Add(1)
					_, err := get(context.Background())
					switch {
					case err == nil:
						p.succeeded.Add(1)
					case errors.Is(err, breaker.ErrOpen), errors.Is(err, adaptive.ErrLimited):
						p.rejected.Add(1)
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		n := p.requests.Load()
		fmt.Fprintf(out, "  %-5s %8d %9.1f%% %8.1f%% %8d %9.2f\n", p.name, n,
			100*float64(p.succeeded.Load())/float64(n), 100*float64(p.rejected.Load())/float64(n),
			p.reached.Load(), float64(p.reached.Load())/float64(n))
	}
}

// recommendedStack decorates fn with the recommended stack, outermost
// first; its breaker's window is a phase long, and it opens for half one.
func recommendedStack(fn func(context.Context) (string, error), phase time.Duration) (func(context.Context) (string, error), error) {
	overall, err := timeout.New(timeout.Config{Timeout: 500 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	retries, err := retry.New(retry.Config{Name: "orders", MaxAttempts: 4, Delay: 10 * time.Millisecond}) // with its default budget
	if err != nil {
		return nil, err
	}
	circuit, err := breaker.New(breaker.Config{
		Name:             "orders",
		Trip:             breaker.TimeWindow{Length: phase, FailureRate: 0.5, SlowCallRate: 0.5, MinCalls: 20},
		SlowCallDuration: 50 * time.Millisecond,
		OpenDuration:     phase / 2,
	})
	if err != nil {
		return nil, err
	}
	limit, err := adaptive.New(adaptive.Config{Name: "orders"})
	if err != nil {
		return nil, err
	}
	perTry, err := timeout.New(timeout.Config{Timeout: 100 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	return breakwater.Wrap(fn, overall, retries,
		circuit, limit, perTry)
}

// fetch is the call the stack protects: one GET, a 5xx as an error.
func fetch(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), err
}
