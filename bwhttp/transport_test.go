package bwhttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwhttp"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/retry"
)

// flakyServer answers with the statuses in order, then 200, recording the
// bodies it receives and the connections it opens.
type flakyServer struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	headers  []http.Header
	bodies   []string
	conns    atomic.Int32
}

func newFlakyServer(t *testing.T, statuses ...int) *flakyServer {
	t.Helper()
	s := &flakyServer{statuses: statuses}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(body))
		status, h := http.StatusOK, http.Header{}
		if len(s.statuses) > 0 {
			status, s.statuses = s.statuses[0], s.statuses[1:]
		}
		if len(s.headers) > 0 {
			h, s.headers = s.headers[0], s.headers[1:]
		}
		s.mu.Unlock()
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		io.WriteString(w, strings.Repeat("x", 1000)) // a body that must be drained
	}))
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *flakyServer) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

// newClient returns a client whose retries run on a fake clock, without
// jitter or a budget, recording their delays.
func newClient(t *testing.T, cfg bwhttp.Config, rc retry.Config) (*http.Client, *clocktest.Fake, *[]time.Duration) {
	t.Helper()
	clk := clocktest.NewFake(time.Now())
	delays := new([]time.Duration)
	var mu sync.Mutex
	rc.Clock, rc.Jitter, rc.NoBudget = clk, retry.JitterNone, true
	rc.Hooks.OnRetry = func(_ context.Context, e retry.RetryEvent) {
		mu.Lock()
		*delays = append(*delays, e.Delay)
		mu.Unlock()
	}
	if cfg.Retry == nil && !cfg.NoRetry {
		p, err := retry.New(rc)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Retry = p
	}
	if cfg.Clock == nil {
		cfg.Clock = clk
	}
	c, err := bwhttp.NewClient(cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c, clk, delays
}

// do sends req while driving the fake clock through the retry delays.
func do(t *testing.T, clk *clocktest.Fake, c *http.Client, req *http.Request) (*http.Response, error) {
	t.Helper()
	var resp *http.Response
	var err error
	clk.Drive(func() { resp, err = c.Do(req) })
	return resp, err
}

func get(t *testing.T, url string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestFlakyServerRecoversAfterRetries(t *testing.T) {
	srv := newFlakyServer(t, 502, 503)
	c, clk, delays := newClient(t, bwhttp.Config{}, retry.Config{MaxAttempts: 4})
	resp, err := do(t, clk, c, get(t, srv.URL))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v, %v", resp, err)
	}
	resp.Body.Close()
	if srv.requests() != 3 || len(*delays) != 2 {
		t.Fatalf("%d requests, delays %v", srv.requests(), *delays)
	}
}

func TestOutOfAttemptsReturnsTheLastAnswer(t *testing.T) {
	srv := newFlakyServer(t, 503, 503, 503)
	c, clk, _ := newClient(t, bwhttp.Config{NoBreaker: true}, retry.Config{MaxAttempts: 3})
	resp, err := do(t, clk, c, get(t, srv.URL))
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("%v, %v; want the 503 itself", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(body) != 1000 {
		t.Fatalf("the last answer's body was consumed: %d bytes", len(body))
	}
}

func TestPostIsNotRetried(t *testing.T) {
	srv := newFlakyServer(t, 503)
	c, clk, _ := newClient(t, bwhttp.Config{}, retry.Config{})
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("charge 10 EUR"))
	resp, err := do(t, clk, c, req)
	if err != nil || resp.StatusCode != 503 || srv.requests() != 1 {
		t.Fatalf("%v, %v after %d requests; a POST must be sent once", resp, err, srv.requests())
	}
	resp.Body.Close()
}

func TestPostWithIdempotencyKeyIsRetriedWithItsBody(t *testing.T) {
	srv := newFlakyServer(t, 503, 502)
	c, clk, _ := newClient(t, bwhttp.Config{}, retry.Config{})
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("charge 10 EUR"))
	req.Header.Set("Idempotency-Key", "order-42")
	resp, err := do(t, clk, c, req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v, %v", resp, err)
	}
	resp.Body.Close()
	if want := []string{"charge 10 EUR", "charge 10 EUR", "charge 10 EUR"}; strings.Join(srv.bodies, "|") != strings.Join(want, "|") {
		t.Fatalf("bodies %q", srv.bodies)
	}
}

func TestBodyThatCannotBeReplayedIsSentOnce(t *testing.T) {
	srv := newFlakyServer(t, 503)
	c, clk, _ := newClient(t, bwhttp.Config{}, retry.Config{})
	req, _ := http.NewRequest(http.MethodPut, srv.URL, io.NopCloser(strings.NewReader("once")))
	resp, err := do(t, clk, c, req)
	if err != nil || resp.StatusCode != 503 || srv.requests() != 1 {
		t.Fatalf("%v, %v after %d requests", resp, err, srv.requests())
	}
	resp.Body.Close()
}

func TestRetryAfterIsHonouredAndCapped(t *testing.T) {
	srv := newFlakyServer(t, 503, 429, 503)
	c, clk, delays := newClient(t, bwhttp.Config{NoBreaker: true}, retry.Config{MaxRetryAfter: time.Minute})
	srv.headers = []http.Header{
		{"Retry-After": {"7"}},
		{"Retry-After": {clk.Now().Add(27 * time.Second).UTC().Format(http.TimeFormat)}}, // read 7s later
		{"Retry-After": {"1000000"}},
	}
	resp, err := do(t, clk, c, get(t, srv.URL))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v, %v", resp, err)
	}
	resp.Body.Close()
	// The HTTP date has a resolution of a second.
	if len(*delays) != 3 || (*delays)[0] != 7*time.Second || (*delays)[1] < 19*time.Second || (*delays)[1] > 20*time.Second || (*delays)[2] != time.Minute {
		t.Fatalf("delays %v, want 7s, ~20s, then the 1m cap", *delays)
	}
}

func TestBreakerOpensPerHost(t *testing.T) {
	down := newFlakyServer(t, 500, 500, 500, 500)
	up := newFlakyServer(t)
	reg, _ := breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(2), Clock: clocktest.NewFake(time.Time{})}, 0)
	c, clk, _ := newClient(t, bwhttp.Config{Breakers: reg}, retry.Config{})
	for i := 0; i < 2; i++ { // 500 is not retried, but counts against the host
		resp, err := do(t, clk, c, get(t, down.URL))
		if err != nil || resp.StatusCode != 500 {
			t.Fatalf("%v, %v", resp, err)
		}
		resp.Body.Close()
	}
	_, err := do(t, clk, c, get(t, down.URL))
	if !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("err = %v, want ErrOpen through the client's error", err)
	}
	if down.requests() != 2 {
		t.Fatalf("the open circuit let %d requests through", down.requests()-2)
	}
	resp, err := do(t, clk, c, get(t, up.URL))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("another host: %v, %v", resp, err)
	}
	resp.Body.Close()
	if got := reg.Get(strings.TrimPrefix(up.URL, "http://")).State(); got != breaker.Closed {
		t.Fatalf("the other host's circuit is %v", got)
	}
}

func TestClientErrorsDoNotCountAgainstTheHost(t *testing.T) {
	srv := newFlakyServer(t, 404, 404, 404, 400, 429, 429)
	reg, _ := breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(2)}, 0)
	c, clk, _ := newClient(t, bwhttp.Config{Breakers: reg}, retry.Config{MaxAttempts: 1})
	host := strings.TrimPrefix(srv.URL, "http://")
	for i := 0; i < 4; i++ {
		resp, _ := do(t, clk, c, get(t, srv.URL))
		resp.Body.Close()
	}
	if reg.Get(host).State() != breaker.Closed {
		t.Fatal("4xx answers opened the circuit")
	}
	for i := 0; i < 2; i++ {
		resp, _ := do(t, clk, c, get(t, srv.URL))
		resp.Body.Close()
	}
	if reg.Get(host).State() != breaker.Open {
		t.Fatal("429 answers must count against the host")
	}
}

// A server that sheds, saying when to come back (503 with Retry-After, as
// bwhttp.NewHandler does), is alive and protecting itself: its answers open
// no circuit, so the requests it can serve go on. A 503 without
// Retry-After counts against the host, and so does a 429 (this client over
// its quota: ExampleTransport_openUntilTheServerSaid).
func TestSheddingWithRetryAfterOpensNoCircuit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		opens  bool
	}{
		{"503 with Retry-After", 503, http.Header{"Retry-After": {"1"}}, false},
		{"429 with Retry-After", 429, http.Header{"Retry-After": {"1"}}, true},
		{"503 alone", 503, nil, true},
		{"429 alone", 429, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFlakyServer(t, tc.status, tc.status, tc.status, tc.status)
			for range 4 {
				srv.headers = append(srv.headers, tc.header)
			}
			reg, _ := breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(2)}, 0)
			c, clk, _ := newClient(t, bwhttp.Config{Breakers: reg}, retry.Config{MaxAttempts: 1})
			for range 4 {
				resp, err := do(t, clk, c, get(t, srv.URL))
				if err != nil {
					if !tc.opens || !errors.Is(err, breaker.ErrOpen) {
						t.Fatal(err)
					}
					continue
				}
				resp.Body.Close()
			}
			m := reg.Get(strings.TrimPrefix(srv.URL, "http://")).Metrics()
			if got := m.State == breaker.Open; got != tc.opens {
				t.Fatalf("circuit open: %v, want %v (%+v)", got, tc.opens, m)
			}
			if !tc.opens && (m.Failures != 0 || m.Ignored != 4) {
				t.Fatalf("sheds counted %d failures, %d ignored; want 0 and 4", m.Failures, m.Ignored)
			}
		})
	}
}

func TestConnectionErrorsAreRetried(t *testing.T) {
	srv := newFlakyServer(t)
	url := srv.URL
	srv.Close() // nothing listens there any more
	c, clk, delays := newClient(t, bwhttp.Config{NoBreaker: true}, retry.Config{MaxAttempts: 3})
	_, err := do(t, clk, c, get(t, url))
	if !errors.Is(err, retry.ErrExhausted) || len(*delays) != 2 {
		t.Fatalf("err %v after delays %v", err, *delays)
	}
}

type closeTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeTracker) Close() error { c.closed.Store(true); return nil }

func TestRejectedRequestBodyIsClosed(t *testing.T) {
	reg, _ := breaker.NewRegistry(breaker.Config{}, 0)
	tr, err := bwhttp.NewTransport(bwhttp.Config{Breakers: reg, NoRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	reg.Get("example.invalid").ForceOpen()
	body := &closeTracker{Reader: strings.NewReader("x")}
	req, _ := http.NewRequest(http.MethodPost, "http://example.invalid/", body)
	if _, err := tr.RoundTrip(req); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("err = %v", err)
	}
	if !body.closed.Load() {
		t.Fatal("a RoundTripper must close the request body")
	}
}

func TestManyRetriedCallsLeakNothing(t *testing.T) {
	const calls = 50
	srv := newFlakyServer(t)
	before := runtime.NumGoroutine()
	c, clk, _ := newClient(t, bwhttp.Config{}, retry.Config{})
	for i := 0; i < calls; i++ {
		srv.mu.Lock()
		srv.statuses = []int{503}
		srv.mu.Unlock()
		resp, err := do(t, clk, c, get(t, srv.URL))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("call %d: %v, %v", i, resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := srv.conns.Load(); n > 2 {
		t.Fatalf("%d connections for %d sequential calls: retried answers were not drained", n, calls)
	}
	c.CloseIdleConnections()
	srv.CloseClientConnections()
	// The connections' goroutines end as their sockets close: give them the
	// processor until they have, or for five seconds at most.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before+2 && time.Now().Before(deadline); {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Fatalf("%d goroutines after the calls, %d before", n, before)
	}
}

func TestHealthHandler(t *testing.T) {
	clk := clocktest.NewFake(time.Time{})
	reg, _ := breaker.NewRegistry(breaker.Config{Clock: clk}, 0)
	reg.Get("search-api").Do(context.Background(), func(context.Context) error { return nil })
	reg.Get("payments-api").Trip()
	clk.Advance(10 * time.Second)

	srv := httptest.NewServer(bwhttp.HealthHandler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/health/circuits")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var h bwhttp.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if h.Status != "degraded" || len(h.Circuits) != 2 {
		t.Fatalf("%+v", h)
	}
	pay, search := h.Circuits[0], h.Circuits[1]
	if pay.Name != "payments-api" || pay.State != breaker.Open || pay.RetryInSeconds != 20 || pay.SecondsInState != 10 || pay.Trips != 1 {
		t.Fatalf("payments-api: %+v", pay)
	}
	if search.Name != "search-api" || search.State != breaker.Closed || search.Calls != 1 || search.Successes != 1 {
		t.Fatalf("search-api: %+v", search)
	}
}

func TestInvalidConfig(t *testing.T) {
	reg, _ := breaker.NewRegistry(breaker.Config{}, 0)
	p, _ := retry.New(retry.Config{})
	tests := []struct {
		give  bwhttp.Config
		field string
	}{
		{bwhttp.Config{NoBreaker: true, Breakers: reg}, "NoBreaker"},
		{bwhttp.Config{NoRetry: true, Retry: p}, "NoRetry"},
	}
	for _, tt := range tests {
		_, err := bwhttp.NewTransport(tt.give)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, config.ErrInvalid) ||
			!strings.Contains(err.Error(), "bwhttp: invalid Config."+tt.field) {
			t.Errorf("NewTransport(%+v) = %v; want a *config.Error for %s", tt.give, err, tt.field)
		}
	}
}

// An open circuit shows what opened it: the failure rate and counts at the
// trip, and when, not the 0 % of the window it cleared.
func TestHealthShowsWhatOpenedACircuit(t *testing.T) {
	clk := clocktest.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	reg, _ := breaker.NewRegistry(breaker.Config{Clock: clk, Trip: breaker.CountWindow{Size: 10, FailureRate: 0.5}}, 0)
	b := reg.Get("orders-api")
	for i := range 10 {
		b.Do(context.Background(), func(context.Context) error {
			if i%5 == 0 {
				return nil
			}
			return errors.New("502")
		})
	}
	trippedAt := clk.Now()
	clk.Advance(3 * time.Second)
	srv := httptest.NewServer(bwhttp.HealthHandler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h bwhttp.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	c := h.Circuits[0]
	if c.State != breaker.Open || c.FailureRate != 0.8 || c.WindowCalls != 10 || c.OpenedBy != "failure-rate" || !c.OpenedAt.Equal(trippedAt) {
		t.Fatalf("open circuit: %+v; want failure rate 0.8 over 10 calls, opened by the failure rate at %v", c, trippedAt)
	}
	b.Reset()
	if m := b.Metrics(); m.FailureRate != 0 || !m.OpenedAt.IsZero() {
		t.Fatalf("closed again: %+v", m)
	}
}
