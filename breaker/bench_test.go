package breaker_test

import (
	"context"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/internal/benchcase"
)

// BenchmarkClosedSuccess is a successful call through a closed breaker with
// the default Config. Target: at most 1.5× BenchmarkBaselineMutex, 0 allocs.
func BenchmarkClosedSuccess(b *testing.B) {
	br, err := breaker.New(breaker.Config{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	benchcase.Closed(b, br)
	b.Run("two-step", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for b.Loop() {
			p, err := br.Allow(context.Background())
			if err == nil {
				p.Done(benchcase.Noop(ctx))
			}
		}
	})
}

// BenchmarkClosedSuccessCountWindow is the same call with a failure-rate
// breaker over the last 100 calls.
func BenchmarkClosedSuccessCountWindow(b *testing.B) {
	br, err := breaker.New(breaker.Config{Name: "bench", Trip: breaker.CountWindow{Size: 100}})
	if err != nil {
		b.Fatal(err)
	}
	benchcase.Closed(b, br)
}

// BenchmarkTimeWindow is the same call with a failure-rate breaker over the
// last 60 s in 60 buckets, on the real clock.
func BenchmarkTimeWindow(b *testing.B) {
	br, err := breaker.New(breaker.Config{Name: "bench", Trip: breaker.TimeWindow{Length: time.Minute, Buckets: 60}})
	if err != nil {
		b.Fatal(err)
	}
	benchcase.Closed(b, br)
}

// BenchmarkOpenReject is a call turned away by an open breaker. Target: 0
// allocs.
func BenchmarkOpenReject(b *testing.B) {
	br, err := breaker.New(breaker.Config{Name: "bench", OpenDuration: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	br.Trip()
	benchcase.Closed(b, br)
}

// BenchmarkBaselineMutex locks a mutex, makes the call and unlocks: the
// cheapest correct shared-state guard, the yardstick for the closed path.
func BenchmarkBaselineMutex(b *testing.B) { benchcase.BaselineMutex(b) }

// BenchmarkBaselineCall is the bare call, the cost of the harness.
func BenchmarkBaselineCall(b *testing.B) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = benchcase.Noop(ctx)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = benchcase.Noop(ctx)
			}
		})
	})
}
