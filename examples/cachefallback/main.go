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
// The service serves its circuits' live dashboard at /dashboard/.
//
// With -serve it keeps running instead, printing the addresses of the
// service, its dashboard and the dependency, whose behaviour
// POST /control?mode=up|down|slow changes (slow: answers after two
// seconds), until interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwhttp"
	"github.com/breakwater-go/breakwater/dashboard"
	"github.com/breakwater-go/breakwater/registry"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/watch"
)

// priceService answers /price?sku=... from the prices dependency, keeping
// the last good answer per SKU for when the dependency's circuit is open.
type priceService struct {
	client    *http.Client
	prices    string // the dependency's base URL
	breakers  *registry.Registry[*breaker.Breaker]
	retries   *retry.Policy
	mu        sync.Mutex
	lastKnown map[string]string
}

func newPriceService(prices string, openFor time.Duration) (*priceService, error) {
	breakers, err := breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(3), OpenDuration: openFor}, 0)
	if err != nil {
		return nil, err
	}
	retries, err := retry.New(retry.Config{Name: "prices", MaxAttempts: 2, Delay: 50 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	client, err := bwhttp.NewClient(bwhttp.Config{Breakers: breakers, Retry: retries}, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &priceService{client: client, prices: prices, breakers: breakers, retries: retries, lastKnown: map[string]string{}}, nil
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
		if wait := time.Until(open.Until); wait > 0 {
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

// handler is the service's mux: prices, the health document and the
// dashboard of its circuits.
func (s *priceService) handler() (http.Handler, error) {
	var watched watch.List
	watched.Add(s.breakers)
	watched.Add(s.retries)
	board, err := dashboard.New(dashboard.Config{Watch: &watched})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/price", s)
	mux.Handle("/health/circuits", bwhttp.HealthHandler(s.breakers))
	mux.Handle("/dashboard/", http.StripPrefix("/dashboard", board))
	return mux, nil
}

func main() {
	serveFlag := flag.Bool("serve", false, "keep serving, with the dependency under control, until interrupted")
	openFor := flag.Duration("open-for", 30*time.Second, "how long a circuit stays open")
	flag.Parse()
	var err error
	if *serveFlag {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = serveUntil(ctx, *openFor, os.Stdout)
	} else {
		err = scenario(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cachefallback:", err)
		os.Exit(1)
	}
}

// dependency is the prices service the example depends on: up, down (503)
// or slow (answers after two seconds).
type dependency struct{ mode atomic.Value }

func (d *dependency) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/control" && r.Method == http.MethodPost {
		switch m := r.FormValue("mode"); m {
		case "up", "down", "slow":
			d.mode.Store(m)
		default:
			http.Error(rw, "mode must be up, down or slow", http.StatusBadRequest)
		}
		return
	}
	switch d.mode.Load() {
	case "down":
		http.Error(rw, "down for maintenance", http.StatusServiceUnavailable)
		return
	case "slow":
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
			return
		}
	}
	fmt.Fprintf(rw, "%s costs 9.99", strings.TrimPrefix(r.URL.Path, "/prices/"))
}

// start runs the dependency and the service on 127.0.0.1.
func start(openFor time.Duration) (deps *dependency, prices, front *server, svc *priceService, err error) {
	deps = &dependency{}
	deps.mode.Store("up")
	if prices, err = serve(deps); err != nil {
		return nil, nil, nil, nil, err
	}
	if svc, err = newPriceService("http://"+prices.Addr, openFor); err != nil {
		prices.Close()
		return nil, nil, nil, nil, err
	}
	h, err := svc.handler()
	if err == nil {
		front, err = serve(h)
	}
	if err != nil {
		prices.Close()
		return nil, nil, nil, nil, err
	}
	return deps, prices, front, svc, nil
}

// serveUntil runs the service until ctx ends, printing its addresses.
func serveUntil(ctx context.Context, openFor time.Duration, w io.Writer) error {
	_, prices, front, _, err := start(openFor)
	if err != nil {
		return err
	}
	defer prices.Close()
	defer front.Close()
	fmt.Fprintf(w, "service http://%s/price?sku=apple\ndashboard http://%s/dashboard/\ndependency http://%s/control\n", front.Addr, front.Addr, prices.Addr)
	<-ctx.Done()
	return nil
}

// scenario runs the dependency and the service and prints what a client of
// the service sees while the dependency goes down.
func scenario(w io.Writer) error {
	deps, prices, front, _, err := start(30 * time.Second)
	if err != nil {
		return err
	}
	defer prices.Close()
	defer front.Close()

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
	deps.mode.Store("down")
	ask("apple") // 2 attempts, both 503: 2 failures
	ask("pear")  // the third failure opens the circuit: no retry, prices' answer is passed on
	ask("apple") // open: answered from the cache
	ask("pear")  // open, nothing cached: 503 with Retry-After
	resp, err := http.Get("http://" + front.Addr + "/health/circuits")
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
