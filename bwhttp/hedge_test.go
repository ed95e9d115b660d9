package bwhttp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/bwhttp"
	"github.com/breakwater-go/breakwater/hedge"
)

// tailServer answers every twentieth request after slow (or when its
// client gives up), the others at once: a 5 % slow tail.
func tailServer(t *testing.T, slow time.Duration) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%20 == 1 {
			select {
			case <-time.After(slow): // the tail's latency, not a wait in the test
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s, &n
}

// p99 sends 100 requests one after another and returns the 99th
// percentile of their latency.
func p99(t *testing.T, client *http.Client, url string) time.Duration {
	t.Helper()
	var took []time.Duration
	for range 100 {
		start := time.Now()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "ok" {
			t.Fatalf("body %q, %v", body, err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	return took[98]
}

// Against a real server with a slow tail, hedging after 20 ms cuts the
// p99 from the tail's latency to about the delay, for a few extra
// requests.
func TestHedgingCutsTheTail(t *testing.T) {
	const slow = 300 * time.Millisecond
	plainServer, _ := tailServer(t, slow)
	plain := &http.Client{Transport: must(bwhttp.NewTransport(bwhttp.Config{NoRetry: true}))}
	without := p99(t, plain, plainServer.URL)

	hedgedServer, sent := tailServer(t, slow)
	h, err := hedge.New(hedge.Config{Delay: 20 * time.Millisecond, BudgetRatio: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	hedged := &http.Client{Transport: must(bwhttp.NewTransport(bwhttp.Config{Hedge: h}))}
	with := p99(t, hedged, hedgedServer.URL)
	extra := sent.Load() - 100
	t.Logf("p99 %v without hedging, %v with; %d extra requests of 100", without, with, extra)
	if without < slow || with > slow/3 {
		t.Errorf("p99 %v without hedging, %v with: want the tail (%v) cut", without, with, slow)
	}
	if m := h.Metrics(); extra > 30 || m.Won < 4 || int64(m.Hedges) != extra { // 30: the budget's bound, 10 + 0.2 × 100
		t.Errorf("%d extra requests, metrics %+v: want about one hedge per slow request (5), each winning", extra, m)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
