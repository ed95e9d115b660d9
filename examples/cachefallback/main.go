// Command cachefallback is an example service: its handler calls a
// dependency through a circuit breaker, answers from a cache while the
// dependency's circuit is open, and answers 503 when it has nothing cached.
//
// Run it with
//
//	go run ./examples/cachefallback
//
// It starts the dependency and the service on 127.0.0.1, takes the
// dependency down halfway, and prints what clients of the service see.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwhttp"
	"github.com/breakwater-go/breakwater/retry"
)

// priceService answers /price?sku=... from the prices dependency, keeping
// the last good answer per SKU for when the dependency's circuit is open.
type priceService struct {
	client    *http.Client
	prices    string // the dependency's base URL
	breakers  *breaker.Registry
	mu        sync.Mutex
	lastKnown map[string]string
}

func newPriceService(prices string) (*priceService, error) {
	breakers, err := breaker.NewRegistry(breaker.RegistryConfig{Defaults: breaker.Config{ConsecutiveFailures: 3, OpenDuration: 30 * time.Second}})
	if err != nil {
		return nil, err
	}
	retries, err := retry.New(retry.Config{MaxAttempts: 2, Delay: 50 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	client, err := bwhttp.NewClient(bwhttp.Config{Breakers: breakers, Retry: retries}, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &priceService{client: client, prices: prices, breakers: breakers, lastKnown: map[string]string{}}, nil
}

func (s *priceService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sku := r.URL.Query().Get("sku")
	price, err := s.fetch(r.Context(), sku)
	if err == nil {
		s.mu.Lock()
		s.lastKnown[sku] = price
		s.mu.Unlock()
		w.Header().Set("X-Source", "live")
		io.WriteString(w, price)
		return
	}
	var open *breaker.OpenError
	if errors.As(err, &open) {
		s.mu.Lock()
		cached, ok := s.lastKnown[sku]
		s.mu.Unlock()
		if ok {
			w.Header().Set("X-Source", "cache")
			io.WriteString(w, cached)
			return
		}
		if wait := open.RetryIn(time.Now()); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		}
		http.Error(w, "prices are unavailable and none is cached", http.StatusServiceUnavailable)
		return
	}
	http.Error(w, "prices failed: "+err.Error(), http.StatusBadGateway)
}

// fetch asks the dependency for the price of sku.
func (s *priceService) fetch(ctx context.Context, sku string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.prices+"/prices/"+sku, nil)
	if err != nil {
		return "", err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("prices answered %s", resp.Status)
	}
	return string(body), err
}

func main() {
	if err := scenario(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cachefallback:", err)
		os.Exit(1)
	}
}

// scenario runs the dependency and the service and prints what a client of
// the service sees while the dependency goes down.
func scenario(w io.Writer) error {
	var down atomic.Bool
	prices, err := serve(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(rw, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(rw, "%s costs 9.99", r.URL.Path[len("/prices/"):])
	}))
	if err != nil {
		return err
	}
	defer prices.Close()
	svc, err := newPriceService("http://" + prices.Addr)
	if err != nil {
		return err
	}
	front, err := serve(svc)
	if err != nil {
		return err
	}
	defer front.Close()
	health, err := serve(bwhttp.HealthHandler(svc.breakers))
	if err != nil {
		return err
	}
	defer health.Close()

	ask := func(sku string) {
		resp, err := http.Get("http://" + front.Addr + "/price?sku=" + sku)
		if err != nil {
			fmt.Fprintln(w, "error:", err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Fprintf(w, "GET /price?sku=%-6s %d %-5s %s", sku, resp.StatusCode, resp.Header.Get("X-Source"), body)
		if len(body) == 0 || body[len(body)-1] != '\n' {
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w, "prices is up")
	ask("apple")
	fmt.Fprintln(w, "prices goes down")
	down.Store(true)
	ask("apple") // 2 attempts, both 503: 2 failures
	ask("pear")  // the third failure opens the circuit: no retry, prices' answer is passed on
	ask("apple") // open: answered from the cache
	ask("pear")  // open, nothing cached: 503 with Retry-After
	resp, err := http.Get("http://" + health.Addr + "/health/circuits")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(w, "GET /health/circuits: %s", body)
	return nil
}

type server struct {
	*http.Server
	Addr string
}

// serve starts h on a free port of 127.0.0.1.
func serve(h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{Server: &http.Server{Handler: h}, Addr: ln.Addr().String()}
	go s.Serve(ln)
	return s, nil
}
