// Command perhost shows both sides of HTTP protection on 127.0.0.1: a
// client whose transport keeps one circuit breaker per host, calling a
// broken pricing server and a healthy inventory server, and the inventory
// server protecting itself with admission control. The broken host's
// circuit opens and its calls fail at once, while the other host is
// served; a burst the inventory server cannot take is shed with 503 and
// Retry-After, which the client waits out without opening that host's
// circuit: an overloaded server is not a broken one.
//
//	go run ./examples/perhost
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/breakwater-go/breakwater/admission"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwhttp"
	"github.com/breakwater-go/breakwater/retry"
)

func main() {
	if err := scenario(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func scenario(out io.Writer) error {
	// The servers: pricing is broken, inventory serves two requests at a
	// time behind admission control and queues two more.
	pricing, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "pricing is broken", http.StatusInternalServerError)
	}))
	if err != nil {
		return err
	}
	defer pricing.Close()
	ac, err := admission.New(admission.Config{Name: "inventory", Limit: admission.LimitConfig{Min: 2, Max: 2}, MaxQueue: 2})
	if err != nil {
		return err
	}
	guarded, err := bwhttp.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		fmt.Fprint(w, "12 in stock")
	}), bwhttp.ServerConfig{Admission: ac})
	if err != nil {
		return err
	}
	inventory, err := serve(guarded)
	if err != nil {
		return err
	}
	defer inventory.Close()

	// The client: one breaker per host (3 failures in a row open it), and
	// retries 10 ms apart, waiting what a Retry-After asks up to 200 ms
	// (MaxRetryAfter: the header counts whole seconds).
	hosts, err := breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(3)}, 0)
	if err != nil {
		return err
	}
	retries, err := retry.New(retry.Config{Delay: 10 * time.Millisecond, MaxRetryAfter: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	client, err := bwhttp.NewClient(bwhttp.Config{Breakers: hosts, Retry: retries}, 10*time.Second)
	if err != nil {
		return err
	}

	fmt.Fprintln(out, "pricing, one request after another:")
	for i := 1; i <= 4; i++ {
		fmt.Fprintf(out, "  GET %d: %s\n", i, get(client, pricing.url))
	}

	fmt.Fprintln(out, "inventory, a burst of 8 at once:")
	results := make([]string, 8)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = get(client, inventory.url) })
	}
	wg.Wait()
	ok := 0
	for _, r := range results {
		if r == "200 12 in stock" {
			ok++
		}
	}
	var admitted, shed uint64
	m := ac.Metrics()
	for _, n := range m.Admitted {
		admitted += n
	}
	for _, reasons := range m.Shed {
		for _, n := range reasons {
			shed += n
		}
	}
	fmt.Fprintf(out, "  %d of 8 answered 200; the server admitted %d requests and shed %d (503 with Retry-After)\n", ok, admitted, shed)

	fmt.Fprintln(out, "circuits:")
	for _, key := range []string{pricing.host, inventory.host} {
		b := hosts.Get(key)
		fmt.Fprintf(out, "  %-9s %s\n", map[string]string{pricing.host: "pricing", inventory.host: "inventory"}[key], b.State())
	}
	return nil
}

// get returns what a GET of url gave: the status and body, or the error.
func get(client *http.Client, url string) string {
	resp, err := client.Get(url)
	if errors.Is(err, breaker.ErrOpen) {
		return "rejected at once: the circuit is open"
	}
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
}

type server struct {
	*http.Server
	host, url string
}

func serve(h http.Handler) (server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return server{}, err
	}
	s := &http.Server{Handler: h}
	go s.Serve(ln)
	return server{s, ln.Addr().String(), "http://" + ln.Addr().String() + "/"}, nil
}
