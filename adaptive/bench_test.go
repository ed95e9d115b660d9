package adaptive_test

import (
	"context"
	"testing"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/internal/benchcase"
)

// BenchmarkDo is a call admitted and sampled, well under the limit.
func BenchmarkDo(b *testing.B) {
	l, err := adaptive.New(adaptive.Config{InitialLimit: adaptive.MaxLimit, MaxLimit: adaptive.MaxLimit})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = l.Do(ctx, benchcase.Noop)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = l.Do(ctx, benchcase.Noop)
			}
		})
	})
}
