package bwredis_test

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwredis"
	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
)

var errDown = errors.New("503")

// replica is one process's view: its own Redis client, Store and breaker.
type replica struct {
	store   *bwredis.Store
	b       *breaker.Breaker
	changes chan breaker.StateChange
}

func newReplica(t testing.TB, srv *redisServer, clk clock.Clock, bc breaker.Config, sc bwredis.Config) *replica {
	t.Helper()
	if sc.Client == nil {
		sc.Client = srv.client(t)
	}
	sc.Clock = clk
	if sc.Logger == nil {
		sc.Logger = slog.New(slog.DiscardHandler)
	}
	if sc.FlushInterval == 0 {
		sc.FlushInterval = time.Hour // tests flush when they choose
	}
	if sc.Timeout == 0 {
		// A loaded machine (the suite beside other work) can take more than
		// the default 100 ms to answer a restarted server's first command;
		// the tests of hangs and timeouts set their own.
		sc.Timeout = 2 * time.Second
	}
	s, err := bwredis.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := &replica{store: s, changes: make(chan breaker.StateChange, 1000)}
	if bc.Name == "" {
		bc.Name = "payments-api"
	}
	bc.Clock = clk
	bc.Hooks = breaker.Hooks{OnStateChange: func(c breaker.StateChange) {
		select { // a wake-up for waitFor, which reads the state itself
		case r.changes <- c:
		default:
		}
	}}
	if r.b, err = s.NewBreaker(bc); err != nil {
		t.Fatal(err)
	}
	flush(t, r)
	return r
}

func flush(t testing.TB, rs ...*replica) {
	t.Helper()
	for _, r := range rs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := r.store.Flush(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Flush: %v", err)
		}
	}
}

// waitFor waits until r's breaker reports a change to want, for at most d.
func waitFor(t testing.TB, r *replica, want breaker.State, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	timeout := time.After(d)
	for {
		if r.b.State() == want {
			return time.Since(start)
		}
		select {
		case <-r.changes:
		case <-timeout:
			t.Fatalf("breaker still %v after %v, want %v", r.b.State(), d, want)
		}
	}
}

func calls(r *replica, errs ...error) {
	for _, err := range errs {
		r.b.Do(context.Background(), func(context.Context) error { return err })
	}
}

func TestTripPropagatesAndRecoveryIsShared(t *testing.T) {
	srv := startRedis(t)
	clk := clocktest.NewFake(time.Now())
	var rs []*replica
	for i := 0; i < 3; i++ {
		rs = append(rs, newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{}))
	}
	calls(rs[0], errDown, errDown, errDown) // replica 0 trips on its own evidence
	for _, r := range rs[1:] {
		took := waitFor(t, r, breaker.Open, 2*time.Second)
		t.Logf("the trip reached a replica in %v", took)
	}
	calls(rs[1], nil)
	if m := rs[1].b.Metrics(); m.Rejections != 1 || m.Calls != 0 {
		t.Fatalf("replica 1 let a call through an open shared circuit: %+v", m)
	}

	// After the cool-down, every replica goes half-open, but only the
	// holder of the cluster's probe lease may probe.
	clk.Advance(30 * time.Second)
	flush(t, rs...)
	var permits []outcome.Permit
	for _, r := range rs {
		if p, err := r.b.Allow(context.Background()); err == nil {
			permits = append(permits, p)
		}
	}
	if len(permits) != 1 {
		t.Fatalf("%d probes allowed across the cluster, want 1", len(permits))
	}
	permits[0].Done(nil) // the probe succeeds: the shared circuit closes
	for _, r := range rs {
		waitFor(t, r, breaker.Closed, 2*time.Second)
	}
}

// A replica that follows a trip takes the fleet's cool-down, not one of
// its own, and its change says it was restored from the shared state.
func TestAFollowedTripKeepsTheFleetsCoolDown(t *testing.T) {
	srv := startRedis(t)
	clk := clocktest.NewFake(time.Now())
	tripper := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
	follower := newReplica(t, srv, clk, breaker.Config{OpenDuration: time.Hour}, bwredis.Config{})
	calls(tripper, errDown, errDown, errDown)
	waitFor(t, follower, breaker.Open, 2*time.Second)
	want := tripper.b.Snapshot().Until
	if got := follower.b.Snapshot().Until; got.Sub(want).Abs() > time.Millisecond { // Redis keeps ms
		t.Fatalf("the follower is open until %v, the fleet until %v", got, want)
	}
	if by := follower.b.Metrics().OpenedBy; by != breaker.ReasonRestored {
		t.Fatalf("the follower says it was opened by %v, want %v", by, breaker.ReasonRestored)
	}
	clk.Advance(30 * time.Second)
	flush(t, tripper, follower)
	waitFor(t, follower, breaker.HalfOpen, 2*time.Second) // with the fleet, not an hour later
}

func TestAggregatedFailuresTripTheSharedCircuit(t *testing.T) {
	srv := startRedis(t)
	clk := clocktest.NewFake(time.Now())
	local := breaker.Config{Trip: breaker.Consecutive(100)} // no replica trips on its own
	shared := bwredis.Config{FailureRate: 0.5, MinCalls: 10}
	var rs []*replica
	for i := 0; i < 3; i++ {
		rs = append(rs, newReplica(t, srv, clk, local, shared))
	}
	for _, r := range rs {
		calls(r, nil, errDown, nil, errDown) // 4 calls, half failed: below MinCalls alone
	}
	flush(t, rs[0], rs[1])
	for _, r := range rs {
		if r.b.State() != breaker.Closed {
			t.Fatal("8 calls in the window tripped the circuit; MinCalls is 10")
		}
	}
	flush(t, rs[2]) // 12 calls, 6 failures: the cluster's rate is 0.5
	for _, r := range rs {
		waitFor(t, r, breaker.Open, 2*time.Second)
	}
}

func TestRacingTripsAndClosesConverge(t *testing.T) {
	srv := startRedis(t)
	clk := clocktest.NewFake(time.Now())
	var rs []*replica
	for i := 0; i < 4; i++ {
		rs = append(rs, newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{}))
	}
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for j := 0; j < 200; j++ {
				if rng.IntN(2) == 0 {
					r.b.Trip()
				} else {
					r.b.Reset()
				}
			}
		}()
	}
	wg.Wait()
	// Let every pending change reach Redis and every replica.
	for i := 0; i < 3; i++ {
		flush(t, rs...)
	}
	c := srv.client(t)
	h, err := c.HGetAll(context.Background(), stateKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	var want breaker.State
	if err := want.UnmarshalText([]byte(h["state"])); err != nil || (want != breaker.Open && want != breaker.Closed) {
		t.Fatalf("shared state %v: %v", h, err)
	}
	for i, r := range rs {
		if got := r.b.State(); got != want {
			t.Errorf("replica %d is %v, the shared circuit %v (gen %s)", i, got, want, h["gen"])
		}
	}
}

func TestRedisDownThenBack(t *testing.T) {
	srv := startRedis(t)
	clk := clocktest.NewFake(time.Now())
	a := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})
	b := newReplica(t, srv, clk, breaker.Config{}, bwredis.Config{})

	srv.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.store.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded with Redis stopped")
	}
	if a.store.Metrics().Connected {
		t.Fatal("the store says it is connected")
	}
	// Local operation: calls go on, a local trip works, nothing is lost.
	start := time.Now()
	calls(a, nil, nil, errDown, errDown, errDown)
	calls(a, nil)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("calls took %v with Redis down: something waited on Redis", took)
	}
	m := a.b.Metrics()
	if a.b.State() != breaker.Open || m.Successes != 2 || m.Failures != 3 || m.Rejections != 1 {
		t.Fatalf("local operation: %v %+v", a.b.State(), m)
	}
	clk.Advance(30 * time.Second)
	calls(a, nil) // the local probe closes the local circuit
	if a.b.State() != breaker.Closed {
		t.Fatalf("local probe: %v", a.b.State())
	}

	srv.start()
	flush(t, a, b)
	if !a.store.Metrics().Connected || a.store.Metrics().Errors == 0 {
		t.Fatalf("after Redis came back: %+v", a.store.Metrics())
	}
	calls(b, errDown, errDown, errDown)
	waitFor(t, b, breaker.Open, time.Second)
	flush(t, b, a) // the change reaches a through its flush, whether or not its subscription is back yet
	waitFor(t, a, breaker.Open, 2*time.Second)
}

func TestKeysExpire(t *testing.T) {
	srv := startRedis(t)
	clk := clocktest.NewFake(time.Now())
	sc := bwredis.Config{Prefix: "test", KeyTTL: time.Minute, Window: 10 * time.Second, ProbeLease: 5 * time.Second}
	r := newReplica(t, srv, clk, breaker.Config{Trip: breaker.Consecutive(1)}, sc)
	calls(r, nil, errDown)
	flush(t, r)
	clk.Advance(30 * time.Second)
	flush(t, r) // takes the probe lease

	c := srv.client(t)
	ctx := context.Background()
	keys, err := c.Keys(ctx, "test:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var sawState, sawLease, sawWindow bool
	for _, k := range keys {
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		limit := time.Duration(0)
		switch {
		case strings.HasSuffix(k, ":state"):
			sawState, limit = true, time.Minute
		case strings.HasSuffix(k, ":lease"):
			sawLease, limit = true, 5*time.Second
		case strings.Contains(k, ":w:"):
			sawWindow, limit = true, 10*time.Second+bwredis.MaxClockSkew // the window, and the skew other clocks may read it from
		default:
			t.Errorf("unexpected key %s", k)
		}
		if ttl <= 0 || ttl > limit {
			t.Errorf("key %s expires in %v, want within %v", k, ttl, limit)
		}
	}
	if !sawState || !sawLease || !sawWindow {
		t.Fatalf("keys %v: want a state, a lease and a window bucket", keys)
	}
}

func TestInvalidConfig(t *testing.T) {
	srv := startRedis(t)
	c := srv.client(t)
	tests := []struct {
		give  bwredis.Config
		field string
	}{
		{bwredis.Config{}, "Client"},
		{bwredis.Config{Client: c, Timeout: -1}, "Timeout"},
		{bwredis.Config{Client: c, FailureRate: 2}, "FailureRate"},
		{bwredis.Config{Client: c, MinCalls: -1}, "MinCalls"},
		{bwredis.Config{Client: c, WindowBuckets: -1}, "WindowBuckets"},
		{bwredis.Config{Client: c, WindowBuckets: 1001}, "WindowBuckets"},
		{bwredis.Config{Client: c, Window: time.Millisecond, WindowBuckets: 10}, "WindowBuckets"},
		{bwredis.Config{Client: c, Prefix: "a{b}"}, "Prefix"},
	}
	for _, tt := range tests {
		s, err := bwredis.New(tt.give)
		if err == nil {
			s.Close()
		}
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, config.ErrInvalid) ||
			!strings.Contains(err.Error(), "bwredis: invalid Config."+tt.field) {
			t.Errorf("New(%+v) = %v; want a *config.Error for %s", tt.give, err, tt.field)
		}
	}
}

// TestSeparateProcesses trips a shared circuit in this process and watches
// a child process, another run of this test binary, see it open.
func TestSeparateProcesses(t *testing.T) {
	if addr := os.Getenv("BWREDIS_CHILD_ADDR"); addr != "" {
		sharingChild(addr)
		return
	}
	srv := startRedis(t)
	c := startChildren(t, 1, "TestSeparateProcesses", func(int) []string { return []string{"BWREDIS_CHILD_ADDR=" + srv.addr()} }, nil)[0]
	if l := c.reply(); l != "child: ready" {
		t.Fatalf("the child said %q", l)
	}
	parent := newReplica(t, srv, clock.System, breaker.Config{}, bwredis.Config{})
	calls(parent, errDown, errDown, errDown)
	if l := c.reply(); l != "child: open" {
		t.Fatalf("the child said %q", l)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

// sharingChild is the other process: it shares the circuit and reports
// when it opens.
func sharingChild(addr string) {
	c := newClient(addr)
	s, err := bwredis.New(bwredis.Config{Client: c, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		os.Exit(3)
	}
	opened := make(chan struct{})
	var once sync.Once
	b, err := s.NewBreaker(breaker.Config{Name: "payments-api", Hooks: breaker.Hooks{OnStateChange: func(c breaker.StateChange) {
		if c.To == breaker.Open {
			once.Do(func() { close(opened) })
		}
	}}})
	if err != nil {
		os.Exit(3)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	s.Flush(ctx) // registered with Redis before the parent trips
	cancel()
	os.Stdout.WriteString("child: ready\n")
	select {
	case <-opened:
		os.Stdout.WriteString("child: open\n")
	case <-time.After(10 * time.Second):
		os.Stdout.WriteString("child: still " + b.State().String() + "\n")
		os.Exit(1)
	}
	s.Close()
	os.Exit(0)
}
