package bwprom_test

import (
	"context"
	"testing"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwprom"
	"github.com/prometheus/client_golang/prometheus"
)

//go:noinline
func noop(context.Context) error { return nil }

func benchClosed(b *testing.B, br *breaker.Breaker) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = br.Do(ctx, noop)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = br.Do(ctx, noop)
			}
		})
	})
}

// BenchmarkClosedBare is a closed-state call through a breaker no
// collector watches.
func BenchmarkClosedBare(b *testing.B) {
	br, _ := breaker.New(breaker.Config{Name: "bench"})
	benchClosed(b, br)
}

// BenchmarkClosedCollected is the same call through a breaker the
// collector watches: it reads counters at scrape time, so calls pay
// nothing.
func BenchmarkClosedCollected(b *testing.B) {
	c := bwprom.NewCollector()
	br, _ := breaker.New(breaker.Config{Name: "bench"})
	c.WatchBreaker(br)
	prometheus.NewRegistry().MustRegister(c)
	benchClosed(b, br)
}

// BenchmarkClosedWithDurationHistogram adds the collector's hooks, which
// time each call into the duration histogram.
func BenchmarkClosedWithDurationHistogram(b *testing.B) {
	c := bwprom.NewCollector()
	br, _ := breaker.New(breaker.Config{Name: "bench", Hooks: c.BreakerHooks()})
	c.WatchBreaker(br)
	prometheus.NewRegistry().MustRegister(c)
	benchClosed(b, br)
}
