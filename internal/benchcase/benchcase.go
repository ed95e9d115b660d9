// Package benchcase holds the benchmark bodies that the core's and the
// integration modules' benchmarks share, so that their figures compare.
package benchcase

import (
	"context"
	"testing"

	"github.com/breakwater-go/breakwater/breaker"
)

// Noop is the protected function of the benchmarks: a call that cannot be
// inlined.
//
//go:noinline
func Noop(context.Context) error { return nil }

// Closed runs br.Do(ctx, Noop) as sub-benchmarks "serial" and "parallel"
// (every goroutine sharing br).
func Closed(b *testing.B, br *breaker.Breaker) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = br.Do(ctx, Noop)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = br.Do(ctx, Noop)
			}
		})
	})
}
