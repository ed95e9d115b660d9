package bwredis_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwredis"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/redis/go-redis/v9"
)

var stateKey = bwredis.StateKeyFor("breakwater", "payments-api")

// reconnect flushes each replica until a round succeeds: after Redis
// restarts, the first command on a pooled connection finds it dead.
func reconnect(t testing.TB, rs ...*replica) {
	t.Helper()
	for _, r := range rs {
		var err error
		for i := 0; i < 20; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = r.store.Flush(ctx)
			cancel()
			if err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("the store never reconnected: %v", err)
		}
	}
}

// converge checks that a change made through from reaches to and back:
// from trips, to follows; to resets, from follows; to trips, from follows.
func converge(t *testing.T, from, to *replica) {
	t.Helper()
	from.b.Trip()
	flush(t, from, to)
	waitFor(t, to, breaker.Open, 2*time.Second)
	to.b.Reset()
	flush(t, to, from)
	waitFor(t, from, breaker.Closed, 2*time.Second)
	to.b.Trip()
	flush(t, to, from)
	waitFor(t, from, breaker.Open, 2*time.Second)
}

// A Redis that restarts with an empty data set (a crash without
// persistence, a failover to a fresh replica) starts generations again
// from zero: the fleet must still agree, in both directions.
func TestRestartWithAnEmptyDataSet(t *testing.T) {
	srv := startRedis(t)
	clk := clocktest.NewFake(time.Now())
	a := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
	b := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
	converge(t, a, b) // generations move well past zero
	a.b.Reset()
	flush(t, a, b)
	waitFor(t, b, breaker.Closed, 2*time.Second)

	srv.stop()
	srv.start()
	reconnect(t, a, b)
	applied := b.store.Metrics().Applied
	converge(t, a, b)
	converge(t, b, a)
	if b.store.Metrics().Applied <= applied {
		t.Fatal("b applied no shared change after the restart")
	}
}

// A failover to a replica that is behind: Redis comes back with an older
// state (here, a snapshot taken earlier). Redis is the truth: the fleet
// follows it, then goes on agreeing.
func TestRestartBehind(t *testing.T) {
	srv := startRedis(t)
	clk := clocktest.NewFake(time.Now())
	a := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
	b := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
	a.b.Trip()
	flush(t, a, b)
	waitFor(t, b, breaker.Open, 2*time.Second)
	if err := srv.client(t).Save(context.Background()).Err(); err != nil { // the replica's view: open
		t.Fatal(err)
	}
	converge(t, b, a) // the primary moves on: generations past the snapshot's
	a.b.Reset()
	flush(t, a, b)
	waitFor(t, b, breaker.Closed, 2*time.Second)

	srv.stop()
	srv.start() // loads the older snapshot
	reconnect(t, a, b)
	if a.b.State() != b.b.State() {
		t.Fatalf("after the failover a is %v and b %v", a.b.State(), b.b.State())
	}
	converge(t, a, b)
	converge(t, b, a)
}

// A state key deleted, evicted (maxmemory, for real) or expired must not
// stop propagation: the process that knows the circuit is open tells Redis
// again.
func TestStateKeyEvictedOrExpired(t *testing.T) {
	for name, lose := range map[string]func(c *redis.Client) error{
		"deleted": func(c *redis.Client) error { return c.Del(context.Background(), stateKey).Err() },
		"evicted": evict,
		"expired": func(c *redis.Client) error {
			return c.PExpireAt(context.Background(), stateKey, time.Unix(1, 0)).Err()
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := startRedis(t)
			clk := clocktest.NewFake(time.Now())
			a := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
			b := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
			a.b.Trip()
			flush(t, a, b)
			waitFor(t, b, breaker.Open, 2*time.Second)
			if err := lose(srv.client(t)); err != nil {
				t.Fatal(err)
			}
			flush(t, a, a, b) // a notices and re-seeds
			st, err := srv.client(t).HGet(context.Background(), stateKey, "state").Result()
			if err != nil || st != "open" {
				t.Fatalf("shared state after the loss: %q, %v; want open again", st, err)
			}
			if a.b.State() != breaker.Open || b.b.State() != breaker.Open {
				t.Fatalf("a %v, b %v", a.b.State(), b.b.State())
			}
			converge(t, b, a)
		})
	}
}

// evict makes Redis evict the state key for real: a memory limit with a
// random-eviction policy, and junk written until the key is gone.
func evict(c *redis.Client) error {
	return evictUntil(c, "allkeys-random", func() bool {
		n, err := c.Exists(context.Background(), stateKey).Result()
		return err == nil && n == 0
	})
}

// evictUntil sets a memory limit just above what Redis uses, with the
// eviction policy given, and writes junk until done says enough has been
// evicted; then it lifts the limit.
func evictUntil(c *redis.Client, policy string, done func() bool) error {
	ctx := context.Background()
	used, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return err
	}
	var mem int64
	for _, line := range strings.Split(used, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			mem, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if err := c.ConfigSet(ctx, "maxmemory-policy", policy).Err(); err != nil {
		return err
	}
	if err := c.ConfigSet(ctx, "maxmemory", strconv.FormatInt(mem+256<<10, 10)).Err(); err != nil {
		return err
	}
	defer c.ConfigSet(ctx, "maxmemory", "0")
	junk := strings.Repeat("x", 1024)
	for i := range 200_000 {
		if i%100 == 0 && done() {
			return nil
		}
		if err := c.Set(ctx, "junk:"+strconv.Itoa(i), junk, 0).Err(); err != nil {
			return err
		}
	}
	return fmt.Errorf("nothing was evicted")
}

// A hung Redis (SIGSTOP) and a client without ContextTimeoutEnabled: the
// Store bounds every wait itself. New returns within its second, rounds
// fail within Timeout, calls never wait, and all rejoin after SIGCONT.
func TestHungRedis(t *testing.T) {
	srv := startRedis(t)
	clk := clocktest.NewFake(time.Now())
	plain := func() *redis.Client { // no ContextTimeoutEnabled; go-redis's 3 s read timeout
		c := redis.NewClient(&redis.Options{Addr: srv.addr()})
		t.Cleanup(func() { c.Close() })
		return c
	}
	a := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{Client: plain(), Timeout: 100 * time.Millisecond})
	if a.store.Metrics().Connected != true {
		t.Fatal("not connected before the hang")
	}
	srv.signal(syscall.SIGSTOP)
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			srv.signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)

	start := time.Now()
	s, err := bwredis.New(bwredis.Config{Client: plain(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond || s.Metrics().Connected {
		t.Fatalf("New took %v against a hung Redis (connected %v); want ≤ 1 s and disconnected", took, s.Metrics().Connected)
	}
	start = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.store.Flush(ctx); err == nil {
		t.Fatal("a round succeeded against a hung Redis")
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("a round took %v; Timeout is 100 ms", took)
	}
	if m := a.store.Metrics(); m.Connected || m.Errors == 0 {
		t.Fatalf("metrics during the hang: %+v", m)
	}
	start = time.Now()
	calls(a, nil, errDown, errDown, errDown, nil)
	if took := time.Since(start); took > 100*time.Millisecond || a.b.State() != breaker.Open {
		t.Fatalf("calls took %v, state %v", took, a.b.State())
	}

	resume()
	reconnect(t, a)
	if !a.store.Metrics().Connected {
		t.Fatal("not connected after SIGCONT")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// One circuit's bad data (a state key of the wrong type, fields that are
// not numbers, an end of open far in the future) isolates that circuit;
// the others stay shared and the store connected.
func TestBadDataIsolatesOneCircuit(t *testing.T) {
	srv := startRedis(t)
	clk := clocktest.NewFake(time.Now())
	a := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
	b := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
	otherA, err := a.store.NewBreaker(breaker.Config{Name: "search-api", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	otherB, err := b.store.NewBreaker(breaker.Config{Name: "search-api", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	admin := srv.client(t)
	ctx := context.Background()

	// A state key of the wrong type.
	if err := admin.Set(ctx, stateKey, "garbage", 0).Err(); err != nil {
		t.Fatal(err)
	}
	flush(t, a, b)
	if m := a.store.Metrics(); !m.Connected || m.Unusable != 1 {
		t.Fatalf("metrics with one bad key: %+v; want connected, 1 unusable", m)
	}
	a.b.Trip() // locally: the unusable circuit runs on its own state
	clk.Advance(30 * time.Second)
	p, err := a.b.Allow(context.Background())
	if err != nil {
		t.Fatalf("the unusable circuit should probe on its local state: %v", err)
	}
	p.Done(nil)
	otherA.Trip()
	flush(t, a, b)
	if otherB.State() != breaker.Open {
		t.Fatalf("the healthy circuit stopped propagating: %v", otherB.State())
	}

	// Fields that are not numbers, an open state that ends in 3,000 years.
	if err := admin.Del(ctx, stateKey).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.HSet(ctx, stateKey, "gen", "abc", "state", "open", "until", "99999999999999").Err(); err != nil {
		t.Fatal(err)
	}
	flush(t, a, b, a, b)
	if m := a.store.Metrics(); !m.Connected || m.Unusable != 0 {
		t.Fatalf("metrics after the repair: %+v", m)
	}
	clk.Advance(30 * time.Second) // locally half-open: the cluster must grant a probe
	flush(t, a, b)
	probes := 0
	for _, r := range []*replica{a, b} {
		if _, err := r.b.Allow(context.Background()); err == nil {
			probes++
		}
	}
	if probes != 1 {
		t.Fatalf("%d probes across the cluster with an absurd end of open; want 1", probes)
	}
}

// A stale or foreign message on the channel is a hint to read, never the
// state: it cannot stop later changes from propagating.
func TestStaleEventIsOnlyAHint(t *testing.T) {
	srv := startRedis(t)
	clk := clocktest.NewFake(time.Now())
	a := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
	b := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
	if err := srv.client(t).Publish(context.Background(), "breakwater:events", "999999|closed|0|payments-api").Err(); err != nil {
		t.Fatal(err)
	}
	flush(t, a, b)
	a.b.Trip()
	waitFor(t, b, breaker.Open, 2*time.Second) // through the channel, no flush
	b.b.Reset()
	waitFor(t, a, breaker.Closed, 2*time.Second)
}

// Processes that share a circuit with different windows are detected, and
// the first one's window decides, so that they still agree: 15 + 15
// failures open the shared circuit.
func TestMismatchedConfigsAreDetectedAndAgree(t *testing.T) {
	srv := startRedis(t)
	clk := clocktest.NewFake(time.Now())
	window := func(buckets int) breaker.Config {
		return breaker.Config{Trip: breaker.TimeWindow{Length: 10 * time.Second, Buckets: buckets, FailureRate: 0.5, MinCalls: 20}}
	}
	a := newReplica(t, srv, clk, window(10), bwredis.Config{})
	b := newReplica(t, srv, clk, window(100), bwredis.Config{})
	for i := 0; i < 15; i++ {
		calls(a, errDown)
		calls(b, errDown)
	}
	flush(t, a, b)
	waitFor(t, a, breaker.Open, 2*time.Second)
	waitFor(t, b, breaker.Open, 2*time.Second)
	if m := b.store.Metrics(); m.Mismatched != 1 {
		t.Fatalf("b's metrics %+v: want the mismatch counted", m)
	}
}

// An operator's ForceOpen or Disable reaches the fleet, and a process that
// starts later finds it.
func TestForcedStatesAreShared(t *testing.T) {
	srv := startRedis(t)
	clk := clocktest.NewFake(time.Now())
	a := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
	b := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
	a.b.ForceOpen()
	flush(t, a, b)
	waitFor(t, b, breaker.ForcedOpen, 2*time.Second)
	late := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
	if late.b.State() != breaker.ForcedOpen {
		t.Fatalf("a process started later is %v", late.b.State())
	}
	if ttl, err := srv.client(t).PTTL(context.Background(), stateKey).Result(); err != nil || ttl >= 0 {
		t.Fatalf("a forced state expires (%v, %v): it must outlive idle time", ttl, err)
	}
	b.b.Disable()
	flush(t, b, a, late)
	waitFor(t, a, breaker.Disabled, 2*time.Second)
	waitFor(t, late, breaker.Disabled, 2*time.Second)
	late.b.Reset()
	flush(t, late, a, b)
	waitFor(t, a, breaker.Closed, 2*time.Second)
	waitFor(t, b, breaker.Closed, 2*time.Second)
}
