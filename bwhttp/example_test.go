package bwhttp_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwhttp"
	"github.com/breakwater-go/breakwater/retry"
)

// A client that retries idempotent requests and breaks circuits per host,
// in one line, and the health endpoint that shows its circuits.
func ExampleNewClient() {
	calls := 0
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls++; calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "hello")
	}))
	defer api.Close()

	hosts, _ := breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(5)}, 0)
	retries, _ := retry.New(retry.Config{MaxAttempts: 3, Delay: 10 * time.Millisecond})
	client, _ := bwhttp.NewClient(bwhttp.Config{Breakers: hosts, Retry: retries}, 10*time.Second)

	resp, err := client.Get(api.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body), calls)

	mux := http.NewServeMux()
	mux.Handle("/health/circuits", bwhttp.HealthHandler(hosts)) // the circuits, as JSON
	// Output: 200 hello 2
}

// A host that answers 429 with Retry-After: 120 keeps its circuit open for
// the two minutes it asked for, instead of the configured 30 s: every call
// meanwhile fails at once, without reaching the host.
func ExampleTransport_openUntilTheServerSaid() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer api.Close()

	hosts, _ := breaker.NewRegistry(breaker.Config{
		Trip:             breaker.Consecutive(1),
		OpenDurationFunc: breaker.RetryAfter, // open for as long as the server said
		MaxOpenDuration:  10 * time.Minute,   // but never longer than this
	}, 0)
	client, _ := bwhttp.NewClient(bwhttp.Config{Breakers: hosts, NoRetry: true}, 10*time.Second)

	resp, err := client.Get(api.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)

	_, err = client.Get(api.URL)
	fmt.Println(errors.Is(err, breaker.ErrOpen))
	for _, b := range hosts.All() {
		fmt.Println(b.Metrics().RetryIn.Round(time.Minute))
	}
	// Output:
	// 429
	// true
	// 2m0s
}
