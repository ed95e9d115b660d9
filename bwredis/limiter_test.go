package bwredis_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/bwredis"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/watch"
	"github.com/redis/go-redis/v9"
)

func newLimiter(t testing.TB, client redis.UniversalClient, limit ratelimit.Config, fallback *ratelimit.Limiter) *bwredis.Limiter {
	t.Helper()
	l, err := bwredis.NewLimiter(bwredis.LimiterConfig{Client: client, Limit: limit, Fallback: fallback,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// latencies summarises call durations.
type latencies []time.Duration

func (ls latencies) at(q float64) time.Duration {
	if len(ls) == 0 {
		return 0
	}
	s := slices.Clone(ls)
	slices.Sort(s)
	return s[min(int(q*float64(len(s))), len(s)-1)]
}

// hammer calls allow from n goroutines until stop, and returns how many
// calls it let through and every call's duration.
func hammer(n int, until time.Time, allow func() bool) (allowed int, lat latencies) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			var mine latencies
			got := 0
			for time.Now().Before(until) {
				start := time.Now()
				ok := allow()
				mine = append(mine, time.Since(start))
				if ok {
					got++
				}
			}
			mu.Lock()
			allowed += got
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return allowed, lat
}

// Four processes, eight goroutines each, call Allow as fast as they can on
// one shared limit of 1,000 a second (burst 10) for 10 s: the fleet is let through
// 10,000 calls, within [0.95, 1.02] of it. Each process prints what it was
// let through and its calls' latency.
func TestSharedLimitAcrossProcesses(t *testing.T) {
	if addr := os.Getenv("BWREDIS_LIMIT_ADDR"); addr != "" {
		limitChild(t, addr)
		return
	}
	srv := startRedis(t)
	const procs, span = 4, 10 * time.Second
	start := time.Now().Add(time.Second).Truncate(time.Millisecond) // every process starts then
	children := startChildren(t, procs, "TestSharedLimitAcrossProcesses", func(int) []string {
		return []string{"BWREDIS_LIMIT_ADDR=" + srv.addr(), "BWREDIS_LIMIT_START=" + strconv.FormatInt(start.UnixMilli(), 10),
			"BWREDIS_LIMIT_SPAN=" + span.String()}
	}, nil)
	total := 0
	for i, c := range children {
		line := c.reply()
		var allowed, calls, p50, p99 int
		if _, err := fmt.Sscanf(line, "allowed %d calls %d p50 %dus p99 %dus", &allowed, &calls, &p50, &p99); err != nil {
			t.Fatalf("process %d said %q: %v", i, line, err)
		}
		t.Logf("process %d: %d let through of %d calls; latency p50 %d µs, p99 %d µs", i, allowed, calls, p50, p99)
		total += allowed
	}
	want := 1000 * int(span/time.Second)
	t.Logf("the fleet was let through %d calls in %v at 1,000/s: %.3f of %d", total, span, float64(total)/float64(want), want)
	if float64(total) < 0.95*float64(want) || float64(total) > 1.02*float64(want) {
		t.Fatalf("the fleet was let through %d calls, want within [0.95, 1.02] x %d", total, want)
	}
}

func limitChild(t *testing.T, addr string) {
	ms, _ := strconv.ParseInt(os.Getenv("BWREDIS_LIMIT_START"), 10, 64)
	span, _ := time.ParseDuration(os.Getenv("BWREDIS_LIMIT_SPAN"))
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, PoolSize: 8})
	defer client.Close()
	// A burst of 10 (10 ms of the rate) absorbs the jitter of calls'
	// arrivals; with a burst of 1, a token not taken the microsecond it
	// is due is lost.
	l := newLimiter(t, client, ratelimit.Config{Name: "partner-api", Rate: 1000, Burst: 10}, nil)
	l.Allow() // connected and the script loaded before the start
	start := time.UnixMilli(ms)
	time.Sleep(time.Until(start)) // every process starts together
	allowed, lat := hammer(8, start.Add(span), l.Allow)
	fmt.Printf("allowed %d calls %d p50 %dus p99 %dus\n", allowed, len(lat), lat.at(0.5).Microseconds(), lat.at(0.99).Microseconds())
}

// Redis paused (SIGSTOP) for 2 s, then killed and restarted empty: no call
// waits longer than the Timeout (and a little scheduling); while Redis is
// gone the fallback decides, and the limit is shared again within 1 s of
// Redis answering.
func TestSharedLimitThroughAnOutage(t *testing.T) {
	srv := startRedis(t)
	client := newClient(srv.addr())
	defer client.Close()
	fallback, err := ratelimit.New(ratelimit.Config{Name: "local-share", Rate: 250})
	if err != nil {
		t.Fatal(err)
	}
	l := newLimiter(t, client, ratelimit.Config{Name: "partner-api", Rate: 1000}, fallback)
	// newClient's timeouts are 200 ms; the limiter's is 100 ms.

	var slowest atomic.Int64
	var shared atomic.Int64 // when the limiter was last seen shared, Unix ns
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				l.Allow()
				d := time.Since(start)
				for {
					old := slowest.Load()
					if int64(d) <= old || slowest.CompareAndSwap(old, int64(d)) {
						break
					}
				}
				if l.Metrics().Mode == watch.ModeShared {
					shared.Store(time.Now().UnixNano())
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	back := func(what string) {
		t.Helper()
		answered := time.Now()
		for l.Metrics().Mode != watch.ModeShared || shared.Load() < answered.UnixNano() {
			if time.Since(answered) > time.Second {
				t.Fatalf("after %s, the limit was not shared again within 1 s (mode %s)", what, l.Metrics().Mode)
			}
			time.Sleep(time.Millisecond)
		}
		t.Logf("after %s, shared again %v after Redis answered", what, time.Since(answered).Round(time.Millisecond))
	}

	time.Sleep(200 * time.Millisecond)
	srv.signal(syscall.SIGSTOP)
	time.Sleep(2 * time.Second)
	if m := l.Metrics(); m.Mode != watch.ModeLocal {
		t.Fatalf("with Redis paused: %+v", m)
	}
	localBefore := fallback.Metrics().Allowed
	srv.signal(syscall.SIGCONT)
	back("a 2 s pause")
	if localBefore == 0 {
		t.Error("the fallback let nothing through while Redis was paused")
	}

	srv.stop()
	time.Sleep(500 * time.Millisecond)
	srv.start()
	back("a restart")

	if d := time.Duration(slowest.Load()); d > 200*time.Millisecond {
		t.Fatalf("a call took %v; the limiter's Timeout is 100 ms", d)
	} else {
		t.Logf("the slowest call took %v (Timeout 100 ms); Redis errors %d", d.Round(time.Millisecond), l.Metrics().Errors)
	}
}

// Without a fallback, a Limiter fails closed: its calls are turned away
// with an error that is a rejection, matching ErrUnavailable and
// ratelimit.ErrLimited; watch and its Metrics say so.
func TestSharedLimitFailsClosedWithoutAFallback(t *testing.T) {
	srv := startRedis(t)
	client := newClient(srv.addr())
	defer client.Close()
	l := newLimiter(t, client, ratelimit.Config{Name: "billing", Rate: 100, Burst: 5}, nil)
	var list watch.List
	list.Add(l)
	if !l.Allow() {
		t.Fatal("a full bucket turned a call away")
	}
	srv.stop()
	err := l.Do(context.Background(), func(context.Context) error { t.Fatal("ran without Redis"); return nil })
	if !errors.Is(err, bwredis.ErrUnavailable) || !errors.Is(err, ratelimit.ErrLimited) || !outcome.Rejected(err) {
		t.Fatalf("without Redis: %v", err)
	}
	if l.Allow() {
		t.Fatal("Allow without Redis let a call through")
	}
	ls := list.Report().Limiters
	if len(ls) != 1 || ls[0].Mode != watch.ModeClosed || ls[0].Admitted != 1 || ls[0].Rejected != 2 {
		t.Fatalf("watch reports %+v", ls)
	}
}

// Wait honours its deadline without taking a token it cannot use; Do
// waits at most MaxWait; the limiter is a policy of a stack, and a call
// it turns away says when to come back.
func TestSharedLimitWaitsAndComposes(t *testing.T) {
	srv := startRedis(t)
	client := newClient(srv.addr())
	defer client.Close()
	l := newLimiter(t, client, ratelimit.Config{Name: "search", Rate: 10, MaxWait: 150 * time.Millisecond}, nil)
	other := newLimiter(t, client, ratelimit.Config{Name: "search", Rate: 10}, nil) // another process's view
	ctx := context.Background()
	if err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	var le *outcome.RejectedError
	if err := other.Wait(short); !errors.As(err, &le) || le.After < 50*time.Millisecond || le.After > 100*time.Millisecond {
		t.Fatalf("a wait past the deadline: %v", err)
	}
	start := time.Now()
	if err := l.Do(ctx, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond || waited > 150*time.Millisecond {
		t.Fatalf("Do waited %v for the next token, 100 ms after the first", waited)
	}
	// Through stacks: l waits for the next token, 100 ms away, within its
	// MaxWait; other (MaxWait 0) turns the call after it away at once.
	call, err := breakwater.Wrap(func(context.Context) (string, error) { return "ok", nil }, l)
	if err != nil {
		t.Fatal(err)
	}
	impatient, err := breakwater.Wrap(func(context.Context) (string, error) { return "ok", nil }, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := impatient(ctx); !errors.As(err, &le) || !outcome.Rejected(err) {
		t.Fatalf("past MaxWait through a stack: %v", err)
	} else if after, ok := outcome.RetryAfter(err); !ok || after <= 0 {
		t.Fatalf("the rejection says retry after %v, %v", after, ok)
	}
}

// Limiters of many names on a Redis Cluster: each name's key lives in the
// slot of its hash tag, and each limit holds.
func TestSharedLimitOnACluster(t *testing.T) {
	addrs, _ := startCluster(t, 0)
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	defer client.Close()
	reg, err := bwredis.NewLimiterRegistry(bwredis.LimiterRegistryConfig{
		Defaults: bwredis.LimiterConfig{Client: client, Timeout: time.Second, Limit: ratelimit.Config{Rate: 100, Burst: 10},
			Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"tenant-a", "tenant-b", "{}", strings.Repeat("x", 1000), "tenant-c", "tenant-d"}
	for _, n := range names {
		// The client learns the cluster's slots on its first calls, and a
		// cluster just made may still be settling: try until one is let
		// through (a call turned away for want of Redis takes no token).
		for deadline := time.Now().Add(10 * time.Second); !reg.Get(n).Allow(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%q: a full bucket turned every call away for 10 s", n)
			}
		}
	}
	until := time.Now().Add(time.Second)
	for _, n := range names {
		got, _ := hammer(2, until, reg.Get(n).Allow)
		// 9 more of the burst, 100 a second for the second already begun.
		if got < 95 || got > 112 {
			t.Errorf("%q: %d let through in 1 s at 100/s (burst 10)", n[:min(len(n), 10)], got)
		}
		until = time.Now().Add(time.Second)
	}
	var list watch.List
	list.Add(reg)
	if ls := list.Report().Limiters; len(ls) != len(names) || ls[0].Mode != watch.ModeShared {
		t.Fatalf("watch reports %+v", ls)
	}
}

func TestLimiterConfigErrors(t *testing.T) {
	plain := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer plain.Close()
	ok := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer ok.Close()
	fallback, _ := ratelimit.New(ratelimit.Config{Rate: 1})
	fallbacks, _ := ratelimit.NewRegistry(ratelimit.Config{Rate: 1}, 0)
	for _, tc := range []struct {
		cfg   bwredis.LimiterConfig
		field string
	}{
		{bwredis.LimiterConfig{Limit: ratelimit.Config{Rate: 1}}, "Client"},
		{bwredis.LimiterConfig{Client: plain, Limit: ratelimit.Config{Rate: 1}}, "Client"},
		{bwredis.LimiterConfig{Client: ok}, "Limit.Rate"},
		{bwredis.LimiterConfig{Client: ok, Limit: ratelimit.Config{Rate: 2e6}}, "Limit.Rate"},
		{bwredis.LimiterConfig{Client: ok, Limit: ratelimit.Config{Rate: 1, Burst: -1}}, "Limit.Burst"},
		{bwredis.LimiterConfig{Client: ok, Limit: ratelimit.Config{Rate: 1}, Timeout: -1}, "Timeout"},
		{bwredis.LimiterConfig{Client: ok, Limit: ratelimit.Config{Rate: 1}, Prefix: "a{b}"}, "Prefix"},
	} {
		_, err := bwredis.NewLimiter(tc.cfg)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tc.field || !errors.Is(err, config.ErrInvalid) {
			t.Errorf("%+v: %v, want an error naming %s", tc.cfg, err, tc.field)
		}
	}
	_, err := bwredis.NewLimiterRegistry(bwredis.LimiterRegistryConfig{Fallbacks: fallbacks,
		Defaults: bwredis.LimiterConfig{Client: ok, Limit: ratelimit.Config{Rate: 1}, Fallback: fallback}})
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Field != "Defaults.Fallback" {
		t.Errorf("a registry with two fallbacks: %v", err)
	}
}
