package ratelimit_test

import (
	"testing"

	"github.com/breakwater-go/breakwater/ratelimit"
)

// BenchmarkAllow admits calls from a bucket that never runs dry.
func BenchmarkAllow(b *testing.B) {
	l, err := ratelimit.New(ratelimit.Config{Rate: 1e9, Burst: 1_000_000})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l.Allow()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow()
			}
		})
	})
}

// BenchmarkAllowEmpty turns calls away from an empty bucket.
func BenchmarkAllowEmpty(b *testing.B) {
	l, err := ratelimit.New(ratelimit.Config{Rate: 0.001})
	if err != nil {
		b.Fatal(err)
	}
	l.Allow()
	b.ReportAllocs()
	for b.Loop() {
		l.Allow()
	}
}
