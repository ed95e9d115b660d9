package bwprom_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/breakwater-go/breakwater/watch"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func serve(t *testing.T, c *bwprom.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Two breakers with one name (two transports calling one host) are one
// series, their counts summed: the scrape does not fail.
func TestBreakersSharingANameAreSummed(t *testing.T) {
	list := new(watch.List)
	c := bwprom.NewCollector(list)
	a, _ := breaker.New(breaker.Config{Name: "api.example"})
	b, _ := breaker.New(breaker.Config{Name: "api.example"})
	list.Add(a)
	list.Add(b)
	ctx := context.Background()
	_ = a.Do(ctx, func(context.Context) error { return nil })
	_ = b.Do(ctx, func(context.Context) error { return errors.New("x") })
	b.Trip()
	f := scrape(t, serve(t, c))
	name := func(kv ...string) map[string]string {
		m := map[string]string{"name": "api.example"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	if got := value(t, f, "breakwater_circuit_calls_total", name("outcome", "success")); got != 1 {
		t.Errorf("successes = %v", got)
	}
	if got := value(t, f, "breakwater_circuit_calls_total", name("outcome", "failure")); got != 1 {
		t.Errorf("failures = %v", got)
	}
	if c, o := value(t, f, "breakwater_circuit_state", name("state", "closed")), value(t, f, "breakwater_circuit_state", name("state", "open")); c != 1 || o != 1 {
		t.Errorf("state closed=%v open=%v, want one of each", c, o)
	}
}

// A name with invalid UTF-8 (a host from a URL) neither breaks the scrape
// nor panics in the caller's request through the duration hooks.
func TestInvalidUTF8NameIsCleaned(t *testing.T) {
	list := new(watch.List)
	c := bwprom.NewCollector(list)
	reg, _ := breaker.NewRegistry(breaker.Config{Hooks: c.BreakerHooks()}, 0)
	list.Add(reg)
	healthy, _ := breaker.New(breaker.Config{Name: "healthy"})
	list.Add(healthy)
	bad := reg.Get("bad\xff\xfehost")
	if err := bad.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	f := scrape(t, serve(t, c))
	if got := value(t, f, "breakwater_circuit_calls_total", map[string]string{"name": "bad\uFFFDhost", "outcome": "success"}); got != 1 {
		t.Errorf("calls = %v", got)
	}
	value(t, f, "breakwater_circuit_trips_total", map[string]string{"name": "healthy"})
}

// The series of removed or evicted breakers are deleted, histogram
// included, so the number of series follows the registry's bound.
func TestSeriesGoWithTheirBreakers(t *testing.T) {
	list := new(watch.List)
	c := bwprom.NewCollector(list)
	reg, _ := breaker.NewRegistry(breaker.Config{Hooks: c.BreakerHooks()}, 100)
	list.Add(reg)
	url := serve(t, c)
	count := func() int {
		n := 0
		for _, fam := range scrape(t, url) {
			n += len(fam.Metric)
		}
		return n
	}
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		_ = reg.Get(fmt.Sprintf("host-%d", i)).Do(ctx, func(context.Context) error { return nil })
		if i%100 == 99 {
			count() // scrapes while hosts come and go
		}
	}
	perBreaker := 16 // 5 states, 4 outcomes, slow, trips, changes, rate, 3 histograms
	if n := count(); n > 100*perBreaker {
		t.Fatalf("%d series for a registry bounded at 100", n)
	}
	for _, b := range reg.All() {
		reg.Remove(b.Name())
	}
	if n := count(); n != 0 {
		t.Fatalf("%d series left after every breaker was removed", n)
	}
}
