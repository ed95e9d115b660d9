// Package benchcase holds the benchmark bodies that the core's and the
// integration modules' benchmarks share, so that their figures compare.
package benchcase

import (
	"context"
	"sync"
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
func Closed(b *testing.B, br *breaker.Breaker) { Do(b, br.Do) }

// Do runs do(ctx, Noop), a policy's Do, as sub-benchmarks "serial" and
// "parallel" (every goroutine sharing the policy).
func Do(b *testing.B, do func(context.Context, func(context.Context) error) error) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = do(ctx, Noop)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = do(ctx, Noop)
			}
		})
	})
}

// BaselineMutex runs Noop under a sync.Mutex, serial and parallel: the
// cost of the simplest guard, next to which a policy's is judged.
func BaselineMutex(b *testing.B) {
	var mu sync.Mutex
	Do(b, func(ctx context.Context, fn func(context.Context) error) error {
		mu.Lock()
		err := fn(ctx)
		mu.Unlock()
		return err
	})
}
