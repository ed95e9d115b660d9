package bwhttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/admission"
	"github.com/breakwater-go/breakwater/bwhttp"
	"github.com/breakwater-go/breakwater/config"
)

// admitted is a server on loopback behind admission control of a fixed
// limit; its handler answers what answer returns.
func admitted(t *testing.T, limit int, cfg admission.Config, answer http.HandlerFunc) (*httptest.Server, *admission.Controller) {
	t.Helper()
	cfg.Limit = admission.LimitConfig{Min: limit, Max: limit}
	c, err := admission.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := bwhttp.NewHandler(answer, bwhttp.ServerConfig{Admission: c})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, c
}

func fetch(t *testing.T, ctx context.Context, url string, header ...string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return http.DefaultClient.Do(req)
}

// waitUntil polls cond: the server's goroutines are the server's own.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never happened", what)
		}
	}
}

// Over the limit, a request waits; past the queue, it is answered 503
// with Retry-After; the slots come back as requests end.
func TestHandlerShedsWith503AndRetryAfter(t *testing.T) {
	release := make(chan struct{})
	srv, c := admitted(t, 1, admission.Config{MaxQueue: 1, RetryAfter: 2 * time.Second}, func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "ok")
	})
	ctx := context.Background()
	answers := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := fetch(t, ctx, srv.URL)
			if err != nil {
				answers <- -1
				return
			}
			resp.Body.Close()
			answers <- resp.StatusCode
		}()
	}
	waitUntil(t, "one request running and one queued", func() bool { m := c.Metrics(); return m.InFlight == 1 && m.Queued == 1 })
	resp, err := fetch(t, ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" || !strings.Contains(string(body), "queue-full") {
		t.Fatalf("past the queue: %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	close(release)
	for range 2 {
		if code := <-answers; code != http.StatusOK {
			t.Fatalf("an admitted request was answered %d", code)
		}
	}
	waitUntil(t, "the slots back", func() bool { m := c.Metrics(); return m.InFlight == 0 && m.Admitted[admission.Default] == 2 })
}

// A handler that panics frees its slot: the next request is served.
func TestPanickingHandlerFreesItsSlot(t *testing.T) {
	srv, c := admitted(t, 1, admission.Config{}, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic(http.ErrAbortHandler) // the server logs nothing for this one
		}
		io.WriteString(w, "ok")
	})
	if _, err := fetch(t, context.Background(), srv.URL+"/panic"); err == nil {
		t.Fatal("a panicking handler answered")
	}
	waitUntil(t, "the slot freed", func() bool { return c.Metrics().InFlight == 0 })
	resp, err := fetch(t, context.Background(), srv.URL)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after a panic: %v %v", resp, err)
	}
	resp.Body.Close()
}

// A client that gives up while its request is queued: the request leaves
// the queue, and nothing is answered or lost.
func TestClientGoneWhileQueued(t *testing.T) {
	release := make(chan struct{})
	srv, c := admitted(t, 1, admission.Config{}, func(w http.ResponseWriter, r *http.Request) {
		<-release
	})
	go func() {
		if resp, err := fetch(t, context.Background(), srv.URL); err == nil {
			resp.Body.Close()
		}
	}()
	waitUntil(t, "one request running", func() bool { return c.Metrics().InFlight == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := fetch(t, ctx, srv.URL)
		done <- err
	}()
	waitUntil(t, "one request queued", func() bool { return c.Metrics().Queued == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the client that gave up: %v", err)
	}
	waitUntil(t, "the queue empty", func() bool { m := c.Metrics(); return m.Queued == 0 && m.Canceled == 1 })
	close(release)
	waitUntil(t, "the slot back", func() bool { return c.Metrics().InFlight == 0 })
}

// The client's timeout and priority travel in headers: a request that
// cannot be answered in time is shed before any work, and a critical one
// pushes a sheddable one out of a full queue.
func TestTimeoutAndPriorityHeaders(t *testing.T) {
	release := make(chan struct{})
	srv, c := admitted(t, 1, admission.Config{MaxQueue: 1}, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-release
		}
		if _, ok := r.Context().Deadline(); !ok && r.URL.Path == "/timed" {
			t.Error("the handler's context has no deadline")
		}
	})
	ctx := context.Background()
	resp, err := fetch(t, ctx, srv.URL+"/late", bwhttp.TimeoutHeader, "0")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a request with no time left: %v %v", resp, err)
	}
	resp.Body.Close()
	go func() {
		if resp, err := fetch(t, ctx, srv.URL+"/hold"); err == nil {
			resp.Body.Close()
		}
	}()
	waitUntil(t, "one request running", func() bool { return c.Metrics().InFlight == 1 })
	low := make(chan int, 1)
	go func() {
		resp, err := fetch(t, ctx, srv.URL+"/low", bwhttp.PriorityHeader, "sheddable")
		if err != nil {
			low <- -1
			return
		}
		resp.Body.Close()
		low <- resp.StatusCode
	}()
	waitUntil(t, "one request queued", func() bool { return c.Metrics().Queued == 1 })
	high := make(chan int, 1)
	go func() {
		resp, err := fetch(t, ctx, srv.URL+"/timed", bwhttp.PriorityHeader, "critical", bwhttp.TimeoutHeader, "5000")
		if err != nil {
			high <- -1
			return
		}
		resp.Body.Close()
		high <- resp.StatusCode
	}()
	if code := <-low; code != http.StatusServiceUnavailable {
		t.Fatalf("the sheddable request was answered %d", code)
	}
	close(release)
	if code := <-high; code != http.StatusOK {
		t.Fatalf("the critical request was answered %d", code)
	}
	m := c.Metrics()
	if m.Shed[admission.Sheddable][admission.ReasonPriority] != 1 || m.Shed[admission.Default][admission.ReasonDeadline] != 1 || m.Admitted[admission.Critical] != 1 {
		t.Fatalf("%+v", m)
	}
}

func TestNewHandlerConfig(t *testing.T) {
	_, err := bwhttp.NewHandler(http.NotFoundHandler(), bwhttp.ServerConfig{})
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Field != "Admission" {
		t.Fatalf("without a controller: %v", err)
	}
}
