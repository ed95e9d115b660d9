package bwhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwhttp"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/retry"
)

// Every return path of RoundTrip closes the request body: an already
// cancelled context, a rejection, a retried request and a sent one.
func TestRoundTripClosesTheBodyOnEveryPath(t *testing.T) {
	srv := newFlakyServer(t, 503, 503)
	reg, _ := breaker.NewRegistry(breaker.Config{}, 0)
	tr, err := bwhttp.NewTransport(bwhttp.Config{Breakers: reg, Retry: mustRetry(t, retry.Config{NoBudget: true, Backoff: noDelay})})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := map[string]func() *http.Request{
		"cancelled context": func() *http.Request {
			return bodyRequest(t, cancelled, http.MethodPut, srv.URL)
		},
		"cancelled, not retryable": func() *http.Request {
			return bodyRequest(t, cancelled, http.MethodPost, srv.URL)
		},
		"retried": func() *http.Request { return bodyRequest(t, context.Background(), http.MethodPut, srv.URL) },
		"rejected": func() *http.Request {
			reg.Get("forced.invalid").ForceOpen()
			return bodyRequest(t, context.Background(), http.MethodPut, "http://forced.invalid/")
		},
	}
	for name, req := range tests {
		t.Run(name, func(t *testing.T) {
			r := req()
			body := r.Body.(*closeTracker)
			resp, err := tr.RoundTrip(r)
			if err == nil {
				resp.Body.Close()
			}
			if !body.closed.Load() {
				t.Fatalf("body left open (err %v)", err)
			}
		})
	}
}

// bodyRequest returns a request whose body records that it was closed and
// can be replayed by GetBody.
func bodyRequest(t *testing.T, ctx context.Context, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Body = &closeTracker{Reader: strings.NewReader("payload")}
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("payload")), nil }
	return req
}

func mustRetry(t *testing.T, cfg retry.Config) *retry.Policy {
	t.Helper()
	p, err := retry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func noDelay(int, error) time.Duration { return 0 }

// Config.IsFailure decides for transport errors too.
func TestIsFailureDecidesForTransportErrors(t *testing.T) {
	srv := newFlakyServer(t)
	url := srv.URL
	srv.Close() // connections are refused
	reg, _ := breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(3)}, 0)
	c, clk, _ := newClient(t, bwhttp.Config{Breakers: reg, NoRetry: true,
		IsFailure: func(*http.Response, error) bool { return false }}, retry.Config{})
	for i := 0; i < 5; i++ {
		if _, err := do(t, clk, c, get(t, url)); err == nil || errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("request %d: %v; want the connection error", i, err)
		}
	}
	if b := reg.All()[0]; b.State() != breaker.Closed || b.Metrics().Failures != 0 {
		t.Fatalf("IsFailure said no failure, yet %+v", b.Metrics())
	}
}

// A body that cannot be replayed is not the host's outcome: it is neither a
// success that would break the run of failures nor a failure.
func TestFailedBodyReplayIsNotASuccess(t *testing.T) {
	srv := newFlakyServer(t, 503, 503)
	reg, _ := breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(2)}, 0)
	c, clk, _ := newClient(t, bwhttp.Config{Breakers: reg}, retry.Config{})
	req := bodyRequest(t, context.Background(), http.MethodPut, srv.URL)
	errGone := errors.New("body gone")
	req.GetBody = func() (io.ReadCloser, error) { return nil, errGone }
	if _, err := do(t, clk, c, req); !errors.Is(err, errGone) {
		t.Fatalf("err = %v, want the GetBody error", err)
	}
	b := reg.All()[0]
	if m := b.Metrics(); m.Successes != 0 || m.Failures != 1 {
		t.Fatalf("after a 503 and a failed replay: %+v; want 1 failure, no success", m)
	}
	if resp, _ := do(t, clk, c, get(t, srv.URL)); resp != nil {
		resp.Body.Close()
	}
	if b.State() != breaker.Open {
		t.Fatalf("state %v: the failed replay broke the run of failures", b.State())
	}
}

// The transport's Retryable decides what is retried, whatever lists the
// retry policy carries.
func TestPolicyListsDoNotOverrideTheTransport(t *testing.T) {
	for name, rc := range map[string]retry.Config{
		"RetryOn":      {RetryOn: []error{io.ErrUnexpectedEOF}},
		"RetryIf":      {RetryIf: func(error) bool { return false }},
		"DoNotRetryOn": {DoNotRetryOn: []error{errors.New("x")}},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newFlakyServer(t, 503, 503, 503)
			c, clk, _ := newClient(t, bwhttp.Config{NoBreaker: true}, rc)
			resp, err := do(t, clk, c, get(t, srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || srv.requests() != 4 {
				t.Fatalf("status %d after %d requests; want 200 after 4", resp.StatusCode, srv.requests())
			}
		})
	}
}

// Hosts come from the outside world: the transport's own registry holds at
// most maxKeys breakers, however many hosts it sees.
func TestBreakersPerHostAreBounded(t *testing.T) {
	srv := newFlakyServer(t)
	tr, err := bwhttp.NewTransport(bwhttp.Config{NoRetry: true,
		Key: func(r *http.Request) string { return r.Header.Get("X-Host") }})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: tr}
	defer c.CloseIdleConnections()
	for i := 0; i < 3*maxKeys; i++ {
		req := get(t, srv.URL)
		req.Header.Set("X-Host", fmt.Sprintf("host-%d.example", i))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		drainClose(resp)
	}
	if n := len(tr.Breakers().All()); n > maxKeys {
		t.Fatalf("%d breakers for %d hosts; bound %d", n, 3*maxKeys, maxKeys)
	}
}

func drainClose(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

type panickingTransport struct{}

func (panickingTransport) RoundTrip(*http.Request) (*http.Response, error) { panic("transport") }

// A base transport or an IsFailure that panics does not keep the host's
// half-open probe slot: the attempt counts as failed.
func TestPanickingBaseFreesTheProbeSlot(t *testing.T) {
	clk := clocktest.NewFake(time.Time{})
	reg, _ := breaker.NewRegistry(breaker.Config{OpenDuration: time.Second, Clock: clk}, 0)
	tr, err := bwhttp.NewTransport(bwhttp.Config{Breakers: reg, NoRetry: true, Base: panickingTransport{}})
	if err != nil {
		t.Fatal(err)
	}
	b := reg.Get("example.invalid")
	b.Trip()
	clk.Advance(time.Second)
	func() {
		defer func() { recover() }()
		_, _ = tr.RoundTrip(get(t, "http://example.invalid/"))
	}()
	if m := b.Metrics(); m.Failures != 1 || b.State() != breaker.Open {
		t.Fatalf("a panicking probe should count as failed and reopen: %+v, %v", m, b.State())
	}
}

// maxKeys is the default bound of breaker.NewRegistry.
const maxKeys = 1000
