package bwhttp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/bwhttp"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/timeout"
)

// A per-attempt timeout in a stack of the caller's own, the README's
// recommended one: the body of the response it returns is read after the
// call has returned. (Before, the attempt's context ended as the timeout
// policy returned: the body read 0 bytes, "context canceled".)
func TestPerAttemptTimeoutKeepsTheBody(t *testing.T) {
	proceed := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush() // the headers now, the body once the call has returned
		<-proceed
		io.WriteString(w, "the whole body")
	}))
	defer srv.Close()
	defer close(proceed)

	get := func(ctx context.Context) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if err != nil {
			return nil, err
		}
		return srv.Client().Do(req)
	}
	r, err := retry.New(retry.Config{MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	perAttempt, err := timeout.New(timeout.Config{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	send, err := breakwater.WrapWith(get, bwhttp.Responses(nil), r, perAttempt)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := send(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	proceed <- struct{}{}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "the whole body" || err != nil {
		t.Fatalf("read %q, %v after the call returned", body, err)
	}
}

// Each attempt carries its number in the header the Config names; the
// caller's request is left as it was.
func TestAttemptHeader(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	statuses := []int{503, 503, 200}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Attempt"))
		status := statuses[0]
		statuses = statuses[1:]
		mu.Unlock()
		w.WriteHeader(status)
	}))
	defer srv.Close()
	c, clk, _ := newClient(t, bwhttp.Config{AttemptHeader: "X-Attempt"}, retry.Config{})
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	var resp *http.Response
	clk.Drive(func() { resp, err = c.Do(req) })
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v, %v", resp, err)
	}
	resp.Body.Close()
	if got := strings.Join(seen, ","); got != "1,2,3" {
		t.Fatalf("attempt headers %q, want 1,2,3", got)
	}
	if req.Header.Get("X-Attempt") != "" {
		t.Fatal("the caller's request was changed")
	}
}
