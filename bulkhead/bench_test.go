package bulkhead_test

import (
	"context"
	"sync"
	"testing"

	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/internal/benchcase"
)

// BenchmarkDo admits and releases a call with free slots.
func BenchmarkDo(b *testing.B) {
	bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: bulkhead.MaxLimit})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = bh.Do(ctx, benchcase.Noop)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = bh.Do(ctx, benchcase.Noop)
			}
		})
	})
}

// BenchmarkReject turns a call away from a full bulkhead.
func BenchmarkReject(b *testing.B) {
	bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	_ = bh.Acquire(ctx)
	b.ReportAllocs()
	for b.Loop() {
		_ = bh.Do(ctx, benchcase.Noop)
	}
}

// BenchmarkBaselineMutex is the call under a sync.Mutex: the cost of the
// simplest guard.
func BenchmarkBaselineMutex(b *testing.B) {
	var mu sync.Mutex
	ctx := context.Background()
	call := func() {
		mu.Lock()
		defer mu.Unlock()
		_ = benchcase.Noop(ctx)
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			call()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				call()
			}
		})
	})
}
