package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

//go:noinline
func succeed(context.Context) error { return nil }

//go:noinline
func value(context.Context) (int, error) { return 42, nil }

// BenchmarkFirstTrySuccess is a call that succeeds at once, through the
// default policy (budget included). Target: 0 allocs.
func BenchmarkFirstTrySuccess(b *testing.B) {
	p, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("Do/serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = p.Do(ctx, succeed)
		}
	})
	b.Run("Do/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = p.Do(ctx, succeed)
			}
		})
	})
	b.Run("Execute/serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = Execute(ctx, p, value)
		}
	})
}

// BenchmarkBackoffDelay computes the delay of a 3rd retry for each strategy.
func BenchmarkBackoffDelay(b *testing.B) {
	errX := errors.New("x")
	for _, j := range []Jitter{JitterNone, JitterProportional, JitterFull, JitterEqual, JitterDecorrelated} {
		s, err := Config{Jitter: j}.settings()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(j.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = s.backoff(3, 2*time.Second, errX)
			}
		})
	}
}
