package throttle_test

import (
	"context"
	"testing"

	"github.com/breakwater-go/breakwater/internal/benchcase"
	"github.com/breakwater-go/breakwater/throttle"
)

// BenchmarkDo is an accepted call through a throttle that refuses nothing.
func BenchmarkDo(b *testing.B) {
	th, err := throttle.New(throttle.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = th.Do(ctx, benchcase.Noop)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = th.Do(ctx, benchcase.Noop)
			}
		})
	})
}
