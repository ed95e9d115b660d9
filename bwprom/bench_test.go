package bwprom_test

import (
	"testing"

	"github.com/breakwater-go/breakwater/watch"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwprom"
	"github.com/breakwater-go/breakwater/internal/benchcase"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkClosedBare is a closed-state call through a breaker no
// collector watches.
func BenchmarkClosedBare(b *testing.B) {
	br, _ := breaker.New(breaker.Config{Name: "bench"})
	benchcase.Closed(b, br)
}

// BenchmarkClosedCollected is the same call through a breaker the
// collector watches: it reads counters at scrape time, so calls pay
// nothing.
func BenchmarkClosedCollected(b *testing.B) {
	list := new(watch.List)
	c := bwprom.NewCollector(list)
	br, _ := breaker.New(breaker.Config{Name: "bench"})
	list.Add(br)
	prometheus.NewRegistry().MustRegister(c)
	benchcase.Closed(b, br)
}

// BenchmarkClosedWithDurationHistogram adds the collector's hooks, which
// time each call into the duration histogram.
func BenchmarkClosedWithDurationHistogram(b *testing.B) {
	list := new(watch.List)
	c := bwprom.NewCollector(list)
	br, _ := breaker.New(breaker.Config{Name: "bench", Hooks: c.BreakerHooks()})
	list.Add(br)
	prometheus.NewRegistry().MustRegister(c)
	benchcase.Closed(b, br)
}
