// Package bwredis shares circuit breakers between processes through Redis,
// so that twenty replicas of a service learn together, not twenty times
// over, that a dependency is down.
//
// Breakers with the same name in processes that use the same Redis (and
// Prefix) share one circuit:
//
//   - When one trips, the others open within a millisecond: the change is a
//     compare-and-set on a generation number in one Lua script, and is
//     published to every process as a hint to read the circuit again.
//     What a Store applies always comes from Redis, which is the truth even
//     when it goes back in time (a restart, a failover to a replica that is
//     behind, an evicted or expired key). It applies it with
//     breaker.Restore (the change's Reason is breaker.ReasonRestored): an
//     open circuit keeps the fleet's cool-down, so the processes' probes
//     come due together and the probe lease picks one.
//   - Calls are counted locally and flushed to the buckets of a shared
//     window every FlushInterval, so the failure rate that trips the
//     circuit is the cluster's: failures spread thinly over many replicas
//     still open it, though no replica alone would.
//   - Half-open probes are limited across the cluster: only the process
//     that holds the probe lease (a key with a TTL) lets probes through.
//   - ForceOpen and Disable are shared, and outlive idle time.
//   - The hot path stays local: a call makes no Redis round trip. Only the
//     Store talks to Redis, one pipeline per round whatever the number of
//     circuits, each bounded by Timeout by the Store itself.
//   - If Redis is unreachable, slow or hung, the breakers go on with their
//     local state, a warning is logged once and Metrics().Connected is
//     false; they rejoin the shared state when Redis answers again. A
//     circuit whose keys hold unusable data runs locally alone.
//   - Keys are namespaced by Prefix, declared to every script (Redis
//     Cluster works), and expire: the state after KeyTTL without traffic,
//     window buckets after the window, a lease after ProbeLease.
//
// A Limiter is a rate limit shared the same way: one bucket in Redis, on
// Redis's clock, for every process that uses the limiter's name (see
// NewLimiter).
//
// It is a module of its own, so that the Breakwater core stays free of
// third-party dependencies.
package bwredis

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/registry"
	"github.com/redis/go-redis/v9"
)

// Config describes a Store. Client is required; the other zero fields mean
// the defaults given.
type Config struct {
	// Client talks to Redis. Set its ContextTimeoutEnabled option, so that
	// Timeout bounds socket reads and writes too.
	Client redis.UniversalClient
	// Prefix namespaces the keys and the channel. Zero means "breakwater".
	Prefix string
	// Timeout bounds every Redis call. Zero means 100 ms.
	Timeout time.Duration
	// FlushInterval is how often counts are flushed and the shared state is
	// checked. Zero means 100 ms.
	FlushInterval time.Duration

	// Window is the span of the cluster's failure count, kept in
	// WindowBuckets buckets. Zero means 10 s in 10 buckets.
	Window        time.Duration
	WindowBuckets int
	// FailureRate opens the shared circuit when the window's failure rate
	// reaches it, once it holds MinCalls calls. Zero means 0.5 and 20.
	//
	// Window, WindowBuckets, FailureRate and MinCalls serve breakers without
	// a TimeWindow trip of their own; a breaker with one shares its own window,
	// FailureRate and MinCalls. How long a shared circuit stays open is the
	// breaker's OpenDuration. Processes that share a circuit with different
	// settings are detected: the first one's settings decide the shared
	// window, a warning is logged and Metrics().Mismatched counts it.
	FailureRate float64
	MinCalls    int
	// ProbeLease is how long the probing process holds the cluster's probe
	// lease before another may take it. Zero means 10 s.
	ProbeLease time.Duration
	// KeyTTL is how long a circuit's state outlives its last update. Zero
	// means 10 minutes.
	KeyTTL time.Duration

	// Clock is the time source; shared states carry its times, so keep
	// processes' clocks in sync. Nil means clock.System.
	Clock clock.Clock
	// Logger receives the warning when Redis becomes unreachable and the
	// notice when it is back. Nil means slog.Default().
	Logger *slog.Logger
}

// The bounds of the breaker's fields a StoreConfig repeats, and of the
// keys a registry holds: a Config past them fails at construction, and a
// circuit read from Redis past them is garbage.
const (
	maxCount         = 1_000_000
	maxWindowBuckets = 1000
)

func invalid(field, format string, args ...any) error {
	return &config.Error{Package: "bwredis", Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Store keeps breakers in step with their shared circuits in Redis. It runs
// one goroutine, stopped by Close.
type Store struct {
	cfg    Config
	client redis.UniversalClient
	log    *slog.Logger
	token  string // this process's claim on probe leases

	mu         sync.Mutex
	circuits   map[string]*circuit
	byTag      map[string]*circuit   // the same circuits, by tag: messages name the tag
	dirty      map[*circuit]struct{} // circuits with news for the next round
	seq        int                   // circuits made so far
	registries []*registry.Registry[*breaker.Breaker]

	wake    chan struct{}
	flushes chan chan error
	cancel  context.CancelFunc
	done    chan struct{}
	pubsub  *redis.PubSub

	connected   atomic.Bool
	lost        atomic.Bool // a read found a record missing: read every circuit at the next flush
	errs, syncs atomic.Uint64
	applied     atomic.Uint64
	roundTrips  atomic.Uint64
	mismatches  atomic.Uint64
	lastRound   atomic.Int64 // ns

	calling  chan struct{}  // holds a token while a Redis call is in flight (see exec)
	inflight sync.WaitGroup // the goroutine of that call
}

// circuit is the Store's view of one shared circuit. Fields other than
// lease and those only the Store's goroutine uses (baseCalls,
// baseFailures, fingerprint) are guarded by Store.mu.
type circuit struct {
	name  string
	tag   string // the hash of name that names its keys and messages (see tagOf)
	b     *breaker.Breaker
	known shared // the shared state as last read from Redis

	params       params // the shared window's, normally derived from b's Config
	fingerprint  string // b's own params, as stored with the circuit
	check        bool   // a message hinted at a change: read the state
	bad          bool   // its keys hold something unusable: it runs locally
	mismatch     bool   // another process shares it with other params
	read         bool   // the shared state has been read once (Store's goroutine only)
	seq          int    // creation order: which share of full reads it belongs to
	fromRegistry bool   // attached by a registry scan: forgotten when evicted

	pending   bool          // a local transition to publish
	pendingTo breaker.State // ... to this state
	rebuild   bool          // ... only to write again a state Redis lost (see Store.rebuild)
	moves     uint64        // local transitions so far: a read planned before one must not undo it
	conflict  bool          // this round's transition lost its compare-and-set: its read is not applied
	wantLease bool          // half-open locally, without the lease yet
	lease     atomic.Bool   // this process may probe

	baseCalls, baseFailures uint64 // counts already flushed
}

// shared is a circuit's state in Redis.
type shared struct {
	gen   int64
	state breaker.State
	until int64  // Unix ms; for open
	cfg   string // the params fingerprint stored with the circuit
}

// New returns a Store on cfg.Client and starts its goroutine. It waits for
// its subscription to the events channel, for at most a second (or Timeout
// if longer); if Redis does not answer, the Store starts disconnected.
func New(cfg Config) (*Store, error) {
	cfg, err := cfg.checked()
	if err != nil {
		return nil, err
	}
	var tok [8]byte
	rand.Read(tok[:])
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		cfg: cfg, client: cfg.Client, log: cfg.Logger, token: hex.EncodeToString(tok[:]),
		circuits: map[string]*circuit{},
		byTag:    map[string]*circuit{},
		dirty:    map[*circuit]struct{}{},
		wake:     make(chan struct{}, 1),
		flushes:  make(chan chan error),
		cancel:   cancel,
		done:     make(chan struct{}),
		calling:  make(chan struct{}, 1),
	}
	s.connected.Store(true)
	// Subscribe, and wait for the subscription to be in place, so that no
	// change published after New returns is missed; without Redis, go on
	// and catch up later. Even opening the connection can hang (the
	// client's handshake), so the wait is the Store's own.
	pubsub := s.client.Subscribe(ctx)
	err = s.execFor(ctx, max(cfg.Timeout, time.Second), func(ctx context.Context) error {
		if err := pubsub.Subscribe(ctx, s.channel()); err != nil {
			return err
		}
		_, err := pubsub.Receive(ctx)
		return err
	})
	if err != nil {
		s.connected.Store(false)
		s.log.Warn("bwredis: Redis does not answer; breakers run on their local state", "error", err)
	}
	s.pubsub = pubsub
	go s.run(ctx, pubsub.Channel())
	return s, nil
}

// exec runs f, the Store's Redis calls of one round, on a goroutine of its
// own and waits at most Timeout for it, so that no client option (a client
// without ContextTimeoutEnabled, long read timeouts) can make a hung Redis
// hold the Store up. One call is in flight at a time: while one that timed
// out has not come back, the next waits for it within its own Timeout
// rather than piling up behind it.
func (s *Store) exec(ctx context.Context, f func(context.Context) error) error {
	return s.execFor(ctx, s.cfg.Timeout, f)
}

func (s *Store) execFor(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	t := time.NewTimer(d) // real time: it bounds a network wait
	defer t.Stop()
	select {
	case s.calling <- struct{}{}:
	case <-t.C:
		return fmt.Errorf("bwredis: the previous Redis call has not returned within %v", d)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	done := make(chan error, 1)
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		err := f(ctx)
		cancel()
		<-s.calling // before the reply: the next round may start at once
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("bwredis: Redis did not answer within %v", d)
	}
}

// checked returns cfg with its defaults applied, or an error naming the
// first field out of range. It talks to no one.
func (cfg Config) checked() (Config, error) {
	if cfg.Client == nil {
		return cfg, invalid("Client", "is nil")
	}
	def := func(d *time.Duration, v time.Duration, field string) error {
		switch {
		case *d < 0:
			return invalid(field, "must not be negative, got %v", *d)
		case *d == 0:
			*d = v
		}
		return nil
	}
	for _, f := range []struct {
		d     *time.Duration
		v     time.Duration
		field string
	}{
		{&cfg.Timeout, 100 * time.Millisecond, "Timeout"},
		{&cfg.FlushInterval, 100 * time.Millisecond, "FlushInterval"},
		{&cfg.Window, 10 * time.Second, "Window"},
		{&cfg.ProbeLease, 10 * time.Second, "ProbeLease"},
		{&cfg.KeyTTL, 10 * time.Minute, "KeyTTL"},
	} {
		if err := def(f.d, f.v, f.field); err != nil {
			return cfg, err
		}
	}
	switch {
	case cfg.WindowBuckets < 0 || cfg.WindowBuckets > maxWindowBuckets:
		return cfg, invalid("WindowBuckets", "must be in [0, %d], got %d", maxWindowBuckets, cfg.WindowBuckets)
	case !(cfg.FailureRate >= 0 && cfg.FailureRate <= 1):
		return cfg, invalid("FailureRate", "must be in [0, 1], got %v", cfg.FailureRate)
	case cfg.MinCalls < 0 || cfg.MinCalls > maxCount:
		return cfg, invalid("MinCalls", "must be in [0, %d], got %d", maxCount, cfg.MinCalls)
	case strings.ContainsAny(cfg.Prefix, "{}"):
		return cfg, invalid("Prefix", "must not contain braces, got %q", cfg.Prefix)
	}
	if cfg.WindowBuckets == 0 {
		cfg.WindowBuckets = 10
	}
	if cfg.Window/time.Duration(cfg.WindowBuckets) < time.Millisecond {
		return cfg, invalid("WindowBuckets", "%d buckets of a %v window are under a millisecond", cfg.WindowBuckets, cfg.Window)
	}
	if cfg.FailureRate == 0 {
		cfg.FailureRate = 0.5
	}
	if cfg.MinCalls == 0 {
		cfg.MinCalls = 20
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "breakwater"
	}
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// hooks returns the hooks through which a breaker tells the Store of its
// state changes.
func (s *Store) hooks() breaker.Hooks {
	return breaker.Hooks{OnStateChange: s.onStateChange}
}

// allowProbe is the breaker.Config.HalfOpen.Allow of shared breakers: a probe
// may run only in the process that holds the cluster's probe lease, or in
// any process while Redis is unreachable or the circuit's keys unusable.
func (s *Store) allowProbe(name string) bool {
	if !s.connected.Load() {
		return true
	}
	s.mu.Lock()
	c := s.circuits[name]
	bad := c != nil && c.bad
	s.mu.Unlock()
	return bad || (c != nil && c.lease.Load())
}

// NewBreaker returns a breaker made from cfg that shares the circuit called
// cfg.Name.
func (s *Store) NewBreaker(cfg breaker.Config) (*breaker.Breaker, error) {
	cfg.Hooks = breaker.JoinHooks(cfg.Hooks, s.hooks())
	cfg.HalfOpen.Allow = s.allowProbe
	b, err := breaker.New(cfg)
	if err != nil {
		return nil, err
	}
	return b, s.attach(b)
}

// NewRegistry returns a registry of breakers made from defaults, as
// breaker.NewRegistry makes them, whose breakers share their circuits.
func (s *Store) NewRegistry(defaults breaker.Config, maxKeys int) (*registry.Registry[*breaker.Breaker], error) {
	defaults.Hooks = breaker.JoinHooks(defaults.Hooks, s.hooks())
	defaults.HalfOpen.Allow = s.allowProbe
	r, err := breaker.NewRegistry(defaults, maxKeys)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.registries = append(s.registries, r)
	s.mu.Unlock()
	return r, nil
}

// attach shares b's circuit. b was made with s.hooks() and s.allowProbe;
// no other breaker of s may have its name.
func (s *Store) attach(b *breaker.Breaker) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.circuitLocked(b.Name())
	if c.b != nil && c.b != b {
		return fmt.Errorf("bwredis: a breaker named %q is already attached", b.Name())
	}
	c.attach(b, s.cfg)
	s.dirty[c] = struct{}{}
	s.nudge()
	return nil
}

// attach binds c to b and derives the shared window from b's Config.
// Callers hold Store.mu.
func (c *circuit) attach(b *breaker.Breaker, cfg Config) {
	c.b = b
	c.params = paramsOf(b.Config(), cfg)
	c.fingerprint = c.params.String()
	c.check = true // read the shared state at once: it may be forced open
}

func (s *Store) circuitLocked(name string) *circuit {
	c := s.circuits[name]
	if c == nil {
		s.seq++
		c = &circuit{name: name, tag: tagOf(name), known: shared{state: breaker.Closed}, seq: s.seq}
		s.circuits[name] = c
		s.byTag[c.tag] = c
	}
	return c
}

// tagOf returns the hash tag of a circuit's keys and messages: the first
// 16 bytes of the SHA-256 of its name, in hex. A name can be anything a
// host or route is, "" or "}x" or a megabyte: hashed, every circuit's keys
// share one non-empty Redis Cluster hash tag (one slot), and what a name
// costs Redis is bounded.
func tagOf(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:16])
}

// onStateChange records a local transition for the Store's goroutine to
// publish. It never touches Redis.
func (s *Store) onStateChange(ev breaker.StateChange) {
	s.mu.Lock()
	c := s.circuitLocked(ev.Name)
	c.moves++
	switch ev.To {
	case breaker.Open, breaker.Closed, breaker.ForcedOpen, breaker.Disabled:
		if ev.Reason != breaker.ReasonRestored { // a restore follows the shared state: no news for the others
			c.pending, c.pendingTo, c.rebuild = true, ev.To, false
		}
		c.wantLease = false
		c.lease.Store(false)
	case breaker.HalfOpen:
		c.wantLease = true
	}
	s.dirty[c] = struct{}{}
	s.mu.Unlock()
	s.nudge()
}

// nudge wakes the Store's goroutine without blocking.
func (s *Store) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Metrics describes the Store's link to Redis.
type Metrics struct {
	// Connected is false while Redis does not answer: the breakers then run
	// on their local state.
	Connected bool
	// Errors counts failed Redis calls.
	Errors uint64
	// Syncs counts completed rounds of flushing and checking.
	Syncs uint64
	// Applied counts shared state changes applied to local breakers.
	Applied uint64
	// RoundTrips counts the pipelines sent to Redis: one per round, however
	// many circuits it carries.
	RoundTrips uint64
	// LastRound is how long the last round's pipeline took to come back:
	// one that nears Timeout says the Store has too much to send at once.
	LastRound time.Duration
	// Mismatched counts circuits found shared with processes whose
	// settings differ from this one's.
	Mismatched uint64
	// Unusable is the number of circuits whose shared state cannot be used
	// (a key of the wrong type, a script error): they run on their local
	// state while the others stay shared.
	Unusable int
}

// Metrics returns a snapshot of the Store's counters.
func (s *Store) Metrics() Metrics {
	s.mu.Lock()
	bad := 0
	for _, c := range s.circuits {
		if c.bad {
			bad++
		}
	}
	s.mu.Unlock()
	return Metrics{Connected: s.connected.Load(), Errors: s.errs.Load(), Syncs: s.syncs.Load(), Applied: s.applied.Load(),
		RoundTrips: s.roundTrips.Load(), Mismatched: s.mismatches.Load(), Unusable: bad,
		LastRound: time.Duration(s.lastRound.Load())}
}

// Flush makes the Store's goroutine flush the counts and check the shared
// state now, and waits for it. The goroutine does this every
// FlushInterval on its own; Flush is for tests and shutdown.
func (s *Store) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case s.flushes <- reply:
	case <-s.done:
		return errors.New("bwredis: store closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the Store's goroutines and waits for them. The breakers go on
// with their local state. The Redis client is not closed. A Redis call in
// flight, and the closing of the subscription, are each waited for at
// most Timeout: one that hangs longer ends when the client gives up on it,
// so Close returns within twice Timeout whatever the client's options.
func (s *Store) Close() error {
	s.cancel()
	<-s.done
	finished := make(chan struct{})
	go func() { s.inflight.Wait(); close(finished) }()
	t := time.NewTimer(s.cfg.Timeout)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
	}
	// Closing the subscription waits for a subscribe still pending on a
	// Redis that does not answer, up to the client's own read timeout
	// (9 s was seen without ContextTimeoutEnabled): Close waits for it at
	// most Timeout more, and the close finishes on its own.
	closed := make(chan error, 1)
	go func() { closed <- s.pubsub.Close() }()
	t.Reset(s.cfg.Timeout)
	select {
	case err := <-closed:
		return err
	case <-t.C:
		return fmt.Errorf("bwredis: closing the subscription did not finish within %v; it goes on in the background", s.cfg.Timeout)
	}
}

func (s *Store) channel() string { return s.cfg.Prefix + ":events" }

func (s *Store) keys(tag string) (state, lease string) {
	base := s.cfg.Prefix + ":{" + tag + "}"
	return base + ":state", base + ":lease"
}

// windowPrefix is the prefix of a circuit's bucket keys; a bucket's number
// follows it.
func (s *Store) windowPrefix(tag string) string { return s.cfg.Prefix + ":{" + tag + "}:w:" }

func parseState(v string) breaker.State {
	var st breaker.State
	if st.UnmarshalText([]byte(v)) != nil {
		return breaker.Closed
	}
	return st
}

// parseShared reads {gen, state, until, cfg, ...} from a script's reply.
func parseShared(v any) (shared, []int64, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) < 4 {
		return shared{}, nil, fmt.Errorf("bwredis: unexpected script reply %v", v)
	}
	gen, ok1 := arr[0].(int64)
	state, ok2 := arr[1].(string)
	until, ok3 := arr[2].(int64)
	cfg, ok4 := arr[3].(string)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return shared{}, nil, fmt.Errorf("bwredis: unexpected script reply %v", v)
	}
	var rest []int64
	for _, x := range arr[4:] {
		n, _ := x.(int64)
		rest = append(rest, n)
	}
	return shared{gen: gen, state: parseState(state), until: until, cfg: cfg}, rest, nil
}
