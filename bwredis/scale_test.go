package bwredis_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwredis"
	"github.com/breakwater-go/breakwater/registry"
	"github.com/redis/go-redis/v9"
)

// BenchmarkScale measures four stores sharing 10, 1,000 or 10,000
// circuits (a registry per host) on a real Redis, with the default
// Timeout, idle or busy (calls spread over every circuit): Redis commands
// per second (INFO commandstats), round errors, round trips per flush, the
// duration of a flush, and how long a trip in one store takes to open the
// breaker of another (p50, p99). Run it with -benchtime=1x: each
// sub-benchmark measures a fixed stretch of real time.
func BenchmarkScale(b *testing.B) {
	for _, n := range []int{10, 1_000, 10_000} {
		for _, busy := range []bool{false, true} {
			mode := "idle"
			if busy {
				mode = "busy"
			}
			b.Run(fmt.Sprintf("circuits=%d/%s", n, mode), func(b *testing.B) {
				for b.Loop() {
					scale(b, n, busy)
				}
			})
		}
	}
}

func scale(b *testing.B, n int, busy bool) {
	srv := startRedis(b)
	admin := srv.client(b)
	ctx := context.Background()
	type member struct {
		store *bwredis.Store
		reg   *registry.Registry[*breaker.Breaker]
		open  chan string
		shut  chan string
	}
	names := make([]string, n)
	for i := range names {
		names[i] = "host-" + strconv.Itoa(i)
	}
	var ms []member
	for i := 0; i < 4; i++ {
		client := redis.NewClient(&redis.Options{Addr: srv.addr(), ContextTimeoutEnabled: true, ReadTimeout: 5 * time.Second})
		b.Cleanup(func() { client.Close() })
		s, err := bwredis.New(bwredis.Config{Client: client, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		m := member{store: s, open: make(chan string, 1024), shut: make(chan string, 1024)}
		m.reg, err = s.NewRegistry(breaker.Config{
			Hooks: breaker.Hooks{OnStateChange: func(c breaker.StateChange) {
				ch := m.shut
				if c.To == breaker.Open {
					ch = m.open
				}
				select {
				case ch <- c.Name:
				default:
				}
			}}}, n)
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range names {
			m.reg.Get(name)
		}
		if err := s.Flush(ctx); err != nil { // registers every circuit
			b.Logf("the first full flush of %d circuits: %v", n, err)
		}
		ms = append(ms, m)
	}
	commands := func() int64 {
		info, err := admin.Info(ctx, "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		var total int64
		for _, line := range strings.Split(info, "\n") {
			if i := strings.Index(line, "calls="); i >= 0 && strings.HasPrefix(line, "cmdstat_") && !strings.HasPrefix(line, "cmdstat_info") {
				v, _ := strconv.ParseInt(strings.SplitN(line[i+6:], ",", 2)[0], 10, 64)
				total += v
			}
		}
		return total
	}

	// Two seconds, idle or with calls spread over every circuit.
	rng := rand.New(rand.NewPCG(1, 2))
	before, errs := commands(), ms[0].store.Metrics().Errors
	syncs, trips := ms[0].store.Metrics().Syncs, ms[0].store.Metrics().RoundTrips
	start := time.Now()
	var rounds []time.Duration // the timed flushes' rounds, sampled
	for time.Since(start) < 2*time.Second {
		for _, m := range ms {
			if busy {
				m.reg.Get(names[rng.IntN(n)]).Do(ctx, func(context.Context) error { return nil })
			}
		}
		rounds = append(rounds, ms[0].store.Metrics().LastRound)
		time.Sleep(time.Millisecond)
	}
	sort.Slice(rounds, func(i, j int) bool { return rounds[i] < rounds[j] })
	elapsed := time.Since(start)
	perSec := float64(commands()-before) / elapsed.Seconds()
	m0 := ms[0].store.Metrics()
	perFlush := float64(m0.RoundTrips-trips) / float64(max(m0.Syncs-syncs, 1))

	// A flush of every circuit (Flush reads them all), timed.
	var flushes []time.Duration
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		if err := ms[0].store.Flush(ctx); err != nil {
			b.Logf("a full flush of %d circuits: %v", n, err)
		}
		flushes = append(flushes, time.Since(t0))
	}
	sort.Slice(flushes, func(i, j int) bool { return flushes[i] < flushes[j] })

	// Trip propagation, store 0 to store 3.
	var lat []time.Duration
	for i := 0; i < 40; i++ {
		name := names[rng.IntN(n)]
		for len(ms[3].open) > 0 {
			<-ms[3].open
		}
		t0 := time.Now()
		ms[0].reg.Get(name).Trip()
		for got := ""; got != name; {
			select {
			case got = <-ms[3].open:
			case <-time.After(10 * time.Second):
				b.Fatalf("the trip of %s never reached store 3", name)
			}
		}
		lat = append(lat, time.Since(t0))
		ms[0].reg.Get(name).Reset()
		for got := ""; got != name; { // closed again everywhere before the next trip
			select {
			case got = <-ms[3].shut:
			case <-time.After(10 * time.Second):
				b.Fatalf("the reset of %s never reached store 3", name)
			}
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(perSec, "redis-cmds/s")
	b.ReportMetric(float64(ms[0].store.Metrics().Errors-errs), "round-errors")
	b.ReportMetric(perFlush, "roundtrips/flush")
	b.ReportMetric(float64(rounds[len(rounds)/2].Microseconds()), "µs/round")
	b.ReportMetric(float64(flushes[len(flushes)/2].Microseconds()), "µs/full-flush")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "µs-trip-p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "µs-trip-p99")
}
