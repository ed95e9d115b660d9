package bwhttp_test

import (
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

	hosts, _ := breaker.NewRegistry(breaker.RegistryConfig{Defaults: breaker.Config{ConsecutiveFailures: 5}})
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
