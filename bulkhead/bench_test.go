package bulkhead_test

import (
	"context"
	"testing"

	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/internal/benchcase"
)

// BenchmarkDo admits and releases a call with free slots.
func BenchmarkDo(b *testing.B) {
	bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1_000_000})
	if err != nil {
		b.Fatal(err)
	}
	benchcase.Do(b, bh.Do)
}

// BenchmarkReject turns a call away from a full bulkhead.
func BenchmarkReject(b *testing.B) {
	bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	_ = acquire(bh, ctx)
	b.ReportAllocs()
	for b.Loop() {
		_ = bh.Do(ctx, benchcase.Noop)
	}
}

// BenchmarkBaselineMutex is the call under a sync.Mutex: the cost of the
// simplest guard.
func BenchmarkBaselineMutex(b *testing.B) { benchcase.BaselineMutex(b) }
