package bwprom_test

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/watch"

	"github.com/breakwater-go/breakwater/bwprom"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// A hedge that wins is scraped from a real server: one call, one hedge
// won, the first attempt cancelled, the delay.
func TestHedgeMetrics(t *testing.T) {
	clk := clocktest.NewFake(time.Unix(0, 0))
	p, err := hedge.New(hedge.Config{Name: "search", Delay: 40 * time.Millisecond, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	list := new(watch.List)
	c := bwprom.NewCollector(list)
	list.Add(p)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	first := make(chan struct{})
	var attempts atomic.Int32
	go func() {
		done <- p.Do(ctx, func(ctx context.Context) error {
			if attempts.Add(1) == 1 {
				close(first) // the call's own attempt: no hedge starts before the clock moves
				<-ctx.Done() // the slow first attempt, cancelled when the hedge wins
			}
			return nil
		})
	}()
	<-first // the slow attempt is the call's own, the winner the hedge
	if err := clk.WaitForTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(40 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	f := scrape(t, srv.URL)
	name := map[string]string{"name": "search"}
	for metric, want := range map[string]float64{
		"breakwater_hedge_calls_total": 1, "breakwater_hedge_hedges_total": 1, "breakwater_hedge_won_total": 1,
		"breakwater_hedge_cancelled_total": 1, "breakwater_hedge_budget_denied_total": 0, "breakwater_hedge_rejected_total": 0,
		"breakwater_hedge_delay_seconds": 0.04,
	} {
		if got := value(t, f, metric, name); got != want {
			t.Errorf("%s = %v, want %v", metric, got, want)
		}
	}
}
