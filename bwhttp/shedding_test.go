package bwhttp_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/bwhttp"
	"github.com/breakwater-go/breakwater/throttle"
)

// A per-host bulkhead turns away a host's calls past its bound at once,
// leaves other hosts alone, and does not count against the host's breaker.
func TestPerHostBulkhead(t *testing.T) {
	release := make(chan struct{})
	var arrived sync.WaitGroup
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release
	}))
	defer slow.Close()
	defer close(release)
	fast := newFlakyServer(t)

	bulkheads, err := bulkhead.NewRegistry(bulkhead.Config{MaxConcurrent: 2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := bwhttp.NewTransport(bwhttp.Config{Shedding: breakwater.Shedding{Bulkheads: bulkheads}})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: transport}
	arrived.Add(2)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			resp, err := client.Get(slow.URL)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
	}
	arrived.Wait() // two calls in flight to the slow host
	for range 5 {
		_, err := client.Get(slow.URL)
		if !errors.Is(err, bulkhead.ErrFull) {
			t.Fatalf("third call to a full host: err = %v, want bulkhead.ErrFull", err)
		}
	}
	resp, err := client.Get(fast.URL)
	if err != nil {
		t.Fatalf("another host: %v", err)
	}
	resp.Body.Close()
	b := transport.Breakers().Get(slow.Listener.Addr().String())
	if m := b.Metrics(); b.State() != breaker.Closed || m.Failures != 0 {
		t.Errorf("the slow host's breaker: %v with %d failures; want closed, none", b.State(), m.Failures)
	}
	if got := len(bulkheads.All()); got != 2 {
		t.Errorf("%d bulkheads, want one per host (2)", got)
	}
	release <- struct{}{}
	release <- struct{}{}
	for range 2 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// A per-host throttle refuses locally once the host refuses, counting
// what IsFailure counts against the host as refused and other answers as
// accepted.
func TestPerHostThrottle(t *testing.T) {
	refusing := newFlakyServer(t, repeat(http.StatusTooManyRequests, 50)...)
	missing := newFlakyServer(t, repeat(http.StatusNotFound, 50)...)
	throttles, err := throttle.NewRegistry(throttle.Config{Rand: func() float64 { return 0.5 }}, 0)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := bwhttp.NewTransport(bwhttp.Config{NoRetry: true, NoBreaker: true, Shedding: breakwater.Shedding{Throttles: throttles}})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: transport}
	var throttled int
	for range 20 {
		for _, s := range []*flakyServer{refusing, missing} {
			resp, err := client.Get(s.URL)
			switch {
			case errors.Is(err, throttle.ErrThrottled):
				if s == missing {
					t.Fatal("a host answering 404 was throttled")
				}
				throttled++
			case err != nil:
				t.Fatal(err)
			default:
				resp.Body.Close()
			}
		}
	}
	// p = n/(n+1) after n refusals; a draw of 0.5 lets through only the
	// calls at p ≤ 0.5: the first two.
	if got := refusing.requests(); got != 2 || throttled != 18 {
		t.Errorf("the refusing host got %d requests, %d throttled; want 2 and 18", got, throttled)
	}
	if got := missing.requests(); got != 20 {
		t.Errorf("the 404 host got %d requests, want 20", got)
	}
}

func repeat(status, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = status
	}
	return out
}
