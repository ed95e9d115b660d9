package bwredis_test

import (
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwredis"
	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/internal/benchcase"
)

// BenchmarkClosedLocal is a closed-state call through a local breaker.
func BenchmarkClosedLocal(b *testing.B) {
	br, _ := breaker.New(breaker.Config{Name: "bench"})
	benchcase.Closed(b, br)
}

// BenchmarkClosedShared is the same call through a breaker shared through
// Redis, with the store flushing every 100 ms meanwhile: no Redis round
// trip on the call.
func BenchmarkClosedShared(b *testing.B) {
	srv := startRedis(b)
	c := srv.client(b)
	s, err := bwredis.New(bwredis.Config{Client: c})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	br, err := s.NewBreaker(breaker.Config{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	benchcase.Closed(b, br)
}

// BenchmarkTripPropagation measures how long a trip in one process takes
// to open the breaker of another (separate clients, real Redis): one op is
// a trip seen and a close seen.
func BenchmarkTripPropagation(b *testing.B) {
	srv := startRedis(b)
	a := newReplica(b, srv, clock.System, breaker.Config{}, bwredis.Config{FlushInterval: 100 * time.Millisecond})
	other := newReplica(b, srv, clock.System, breaker.Config{}, bwredis.Config{FlushInterval: 100 * time.Millisecond})
	var open time.Duration
	for b.Loop() {
		start := time.Now()
		a.b.Trip()
		waitFor(b, other, breaker.Open, 5*time.Second)
		open += time.Since(start)
		a.b.Reset()
		waitFor(b, other, breaker.Closed, 5*time.Second)
	}
	b.ReportMetric(float64(open.Microseconds())/float64(b.N), "µs/trip")
}
