package breakwater_test

import (
	"context"
	"testing"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/internal/testpolicy"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
)

//go:noinline
func lookup(context.Context) (int, error) { return 42, nil }

// BenchmarkRetryBreaker is a successful call through a decorator of retry
// around a breaker, both with their defaults.
func BenchmarkRetryBreaker(b *testing.B) {
	r, _ := retry.New(retry.Config{})
	br, _ := breaker.New(breaker.Config{})
	call, err := breakwater.Wrap(lookup, r, br)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = call(ctx)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = call(ctx)
			}
		})
	})
}

// BenchmarkRetryCapBreaker is the same call with a policy of another
// package (a concurrency cap) between retry and breaker: the stack goes
// through Next and a pooled result holder there.
func BenchmarkRetryCapBreaker(b *testing.B) {
	r, _ := retry.New(retry.Config{})
	br, _ := breaker.New(breaker.Config{})
	call, err := breakwater.Wrap(lookup, r, testpolicy.Cap(1024), br)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = call(ctx)
	}
}

// BenchmarkOnePolicy is a successful call through each admitting policy
// alone, as a decorator: what the stack adds to the policy's own admit and
// release.
func BenchmarkOnePolicy(b *testing.B) {
	br, _ := breaker.New(breaker.Config{})
	bh, _ := bulkhead.New(bulkhead.Config{MaxConcurrent: 1_000_000})
	rl, _ := ratelimit.New(ratelimit.Config{Rate: 1e9, Burst: 1_000_000})
	th, _ := throttle.New(throttle.Config{})
	al, _ := adaptive.New(adaptive.Config{InitialLimit: 500_000, MaxLimit: 1_000_000})
	for _, c := range []struct {
		name   string
		policy any
	}{
		{"breaker", br},
		{"bulkhead", bh},
		{"ratelimit", rl},
		{"throttle", th},
		{"adaptive", al},
	} {
		call, err := breakwater.Wrap(lookup, c.policy)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = call(ctx)
			}
		})
	}
}
