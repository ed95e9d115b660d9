package adaptive_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/internal/benchcase"
)

// BenchmarkDo is a call admitted and sampled, well under the limit.
func BenchmarkDo(b *testing.B) {
	l, err := adaptive.New(adaptive.Config{InitialLimit: 1_000_000, MaxLimit: 1_000_000})
	if err != nil {
		b.Fatal(err)
	}
	benchcase.Do(b, l.Do)
}

// BenchmarkReject is a call turned away by a limit that is full.
func BenchmarkReject(b *testing.B) {
	for _, limit := range []int{1, 20} {
		l, err := adaptive.New(adaptive.Config{InitialLimit: limit})
		if err != nil {
			b.Fatal(err)
		}
		for range limit {
			if _, err := l.Allow(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Allow(ctx); err == nil {
						b.Fatal("admitted past the limit")
					}
				}
			})
		})
	}
}
