package bwredis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock"
	"github.com/redis/go-redis/v9"
)

// fullEvery is how many flushes it takes to read every circuit, changed
// or not, which catches a missed message and keeps idle circuits' keys
// alive: each flush reads a thirtieth of them (every 3 s at the default
// interval), besides the circuits with news
// (calls to report, a hint, a transition), so that a round's work does not
// jump with the number of circuits.
const fullEvery = 30

// run is the Store's goroutine: it alone decides what to send to Redis and
// changes local breakers to follow the shared state.
func (s *Store) run(ctx context.Context, msgs <-chan *redis.Message) {
	defer close(s.done)
	rebase := false // after an outage, counts made meanwhile are dropped
	flushes := 0
	// The flush timer runs on its own: messages and wake-ups between two
	// flushes are handled without putting the next flush off (it once
	// restarted on every message: at 20 messages a second, no flush ran).
	t := s.cfg.Clock.NewTimer(s.cfg.FlushInterval)
	defer func() { t.Stop() }()
	for {
		var reply chan error
		flush := false
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C():
			flush = true
			t = s.cfg.Clock.NewTimer(s.cfg.FlushInterval)
		case reply = <-s.flushes:
			flush = true
		case m, ok := <-msgs:
			if !ok {
				msgs = nil
			} else {
				s.hint(m.Payload)
			}
		}
		full := -1 // which share of the circuits to read whatever their news; all: fullEvery
		if flush {
			full = flushes % fullEvery
			// After an outage, on demand, or once a read has found a record
			// missing (Redis lost its data: the others are likely gone too),
			// every circuit is read, so that the records are written again
			// within a flush rather than a read cycle.
			if rebase || reply != nil || s.lost.Swap(false) {
				full = fullEvery
			}
			flushes++
		}
		trips := s.roundTrips.Load()
		err := s.round(ctx, flush, full, rebase)
		switch {
		case err != nil:
			s.errs.Add(1)
			rebase = true
			// On Redis Cluster a failover moves slots: the client's map of
			// them is reloaded, or it would keep asking the node that died.
			if c, ok := s.client.(interface{ ReloadState(context.Context) }); ok {
				c.ReloadState(ctx)
			}
			if s.connected.Swap(false) {
				s.log.Warn("bwredis: Redis does not answer; breakers run on their local state", "error", err)
			}
		case flush || s.roundTrips.Load() != trips:
			if flush {
				s.syncs.Add(1)
				rebase = false
			}
			// Any round that Redis answered reconnects: a round between
			// flushes (a transition, a hint) need not wait for the next.
			if !s.connected.Swap(true) {
				s.log.Info("bwredis: Redis answers again; breakers rejoin their shared state")
			}
		}
		if reply != nil {
			reply <- err
		}
	}
}

// hint marks the circuit a message names ("gen|state|until|tag"), to be
// read in the next round. The message itself is not trusted: a stale or
// foreign one costs a read.
func (s *Store) hint(payload string) {
	parts := strings.SplitN(payload, "|", 4)
	if len(parts) != 4 {
		return
	}
	s.mu.Lock()
	if c := s.byTag[parts[3]]; c != nil {
		c.check = true
		s.dirty[c] = struct{}{}
	}
	s.mu.Unlock()
}

// markDirty has a round look at c again at once, even between flushes.
func (s *Store) markDirty(c *circuit) {
	s.mu.Lock()
	s.dirty[c] = struct{}{}
	s.mu.Unlock()
	s.nudge()
}

// step is one script run for one circuit in a round's pipeline. Its keys
// and arguments are fixed when it is planned, so that the goroutine that
// sends it reads nothing the Store's goroutine may change.
type step struct {
	c      *circuit
	kind   int // stepTransition, stepAcquire or stepFlush
	to     breaker.State
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd

	calls, failures uint64 // stepFlush: the counts the deltas were taken from
	moves           uint64 // the circuit's local transitions when the step was planned
}

const (
	stepTransition = iota
	stepAcquire
	stepFlush
)

// round sends, in one pipeline, what every circuit needs this round:
// pending local transitions, probe-lease requests and, when flush is set,
// the counts of circuits that have calls to report or news to read, and a
// read of the share full of the others (all of them when full is
// fullEvery). It fails only when Redis itself does not answer; a circuit
// whose keys hold something unusable runs locally and the others go on.
func (s *Store) round(ctx context.Context, flush bool, full int, rebase bool) error {
	s.mu.Lock()
	var list []*circuit
	if flush {
		s.scanRegistriesLocked()
		list = make([]*circuit, 0, len(s.circuits))
		for _, c := range s.circuits {
			if c.b != nil && (!c.bad || full == fullEvery || c.seq%fullEvery == full) {
				list = append(list, c)
			}
		}
	} else { // between flushes, only the circuits with news
		for c := range s.dirty {
			if c.b != nil {
				list = append(list, c)
			}
		}
	}
	clear(s.dirty)
	s.mu.Unlock()

	now := s.cfg.Clock.Now()
	var steps []*step
	for _, c := range list {
		s.mu.Lock()
		moves := c.moves // read before plan reads the rest: a move in between only costs a read
		s.mu.Unlock()
		first := len(steps)
		steps = s.plan(steps, c, now, flush, full == fullEvery || c.seq%fullEvery == full, rebase)
		for _, st := range steps[first:] {
			st.moves = moves
		}
	}
	// A round's steps go in pipelines of at most maxPipeline, each bounded
	// by Timeout: the work of a round grows with the circuits it carries,
	// and one pipeline of 10,000 reads took longer than the default 100-ms
	// Timeout on a healthy Redis (every error then forcing a full read
	// again: a loop without end).
	for len(steps) > 0 {
		n := min(len(steps), maxPipeline)
		if err := s.send(ctx, steps[:n], rebase); err != nil {
			// Nothing was settled: what the round carried is still news.
			s.mu.Lock()
			for _, st := range steps {
				s.dirty[st.c] = struct{}{}
			}
			s.mu.Unlock()
			return err
		}
		steps = steps[n:]
	}
	return nil
}

// maxPipeline bounds the scripts sent in one pipeline: a few milliseconds
// of Redis's time.
const maxPipeline = 500

// send runs steps in one pipeline and settles their replies.
func (s *Store) send(ctx context.Context, steps []*step, rebase bool) error {
	start := time.Now()
	err := s.exec(ctx, func(ctx context.Context) error {
		if err := s.pipeline(ctx, steps); err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
			return err
		}
		// Redis lost its scripts (a restart, a failover): load them, again.
		for _, sc := range scripts {
			if err := sc.Load(ctx, s.client).Err(); err != nil {
				return err
			}
		}
		return s.pipeline(ctx, steps)
	})
	if err != nil {
		return err
	}
	s.roundTrips.Add(1)
	s.lastRound.Store(int64(time.Since(start)))
	for _, st := range steps {
		s.settle(st, rebase)
	}
	return nil
}

// scanRegistriesLocked attaches the breakers the registries created since
// the last scan, and forgets the circuits of breakers they evicted or
// removed, so that the Store's memory follows the registries' bounds.
// Callers hold s.mu.
func (s *Store) scanRegistriesLocked() {
	if len(s.registries) == 0 {
		return
	}
	seen := make(map[*breaker.Breaker]bool, len(s.circuits))
	for _, r := range s.registries {
		for _, b := range r.All() {
			seen[b] = true
			if c := s.circuitLocked(b.Name()); c.b == nil {
				c.attach(b, s.cfg)
				c.fromRegistry = true
			}
		}
	}
	for name, c := range s.circuits {
		if c.fromRegistry && !seen[c.b] {
			delete(s.circuits, name)
			delete(s.byTag, c.tag)
			delete(s.dirty, c)
		}
	}
}

// pipeline runs the steps' scripts in one round trip. A reply error of one
// script is that circuit's (settle reads it); any other error is Redis's.
func (s *Store) pipeline(ctx context.Context, steps []*step) error {
	pipe := s.client.Pipeline()
	for _, st := range steps {
		st.cmd = st.script.EvalSha(ctx, pipe, st.keys, st.args...)
	}
	_, err := pipe.Exec(ctx)
	var replyErr redis.Error
	if err != nil && errors.As(err, &replyErr) && !redis.HasErrorPrefix(err, "NOSCRIPT") {
		return nil
	}
	return err
}

// plan adds the steps circuit c needs this round.
func (s *Store) plan(steps []*step, c *circuit, now time.Time, flush, full, rebase bool) []*step {
	s.mu.Lock()
	pending, to, wantLease, known, check, p := c.pending, c.pendingTo, c.wantLease, c.known, c.check, c.params
	pending = pending && !c.bad // a circuit that runs alone publishes nothing; it rejoins when usable (markGood)
	s.mu.Unlock()
	local := c.b.State()
	if !pending && !check && !flush && !wantLease && !c.lease.Load() {
		return steps
	}
	nowMs := now.UnixMilli()
	state, lease := s.keys(c.tag)

	// A local transition the others must hear of. An echo of a change that
	// came from the shared state, or one the breaker has moved past, is
	// dropped.
	if pending {
		if local != to && !(to == breaker.Open && local == breaker.HalfOpen) || known.gen > 0 && known.state == to { // gen 0: no state recorded
			s.clearPending(c, to)
		} else {
			keys := []string{state, lease}
			if to == breaker.Closed {
				keys = append(keys, s.bucketKeys(c.tag, p, nowMs, 1, ahead(p))...)
			}
			steps = append(steps, &step{c: c, kind: stepTransition, to: to, script: transitionScript, keys: keys,
				args: []any{known.gen, to.String(), nowMs, p.openMs, ms(s.cfg.KeyTTL), s.channel(), c.tag, c.fingerprint}})
		}
	}
	// Half-open here: ask for the cluster's probe lease, or confirm it is
	// still ours (Redis may have lost it, and granted it to another).
	if local == breaker.HalfOpen && (wantLease || c.lease.Load()) {
		steps = append(steps, &step{c: c, kind: stepAcquire, script: acquireScript, keys: []string{state, lease},
			args: []any{nowMs, ms(s.cfg.ProbeLease), s.token, ms(s.cfg.KeyTTL), p.maxOpenMs, s.channel(), c.tag}})
	}
	if !check && !flush {
		return steps
	}
	m := c.b.Metrics()
	calls, failures := m.Successes+m.Failures, m.Failures
	if rebase || calls < c.baseCalls || failures < c.baseFailures {
		c.baseCalls, c.baseFailures = calls, failures // counts made while Redis was away are dropped
	}
	if !check && !full && calls == c.baseCalls {
		return steps // nothing to report, nothing to read
	}
	st := &step{c: c, kind: stepFlush, script: flushScript, calls: calls, failures: failures}
	dCalls, dFailures := calls-c.baseCalls, failures-c.baseFailures
	if !c.read || dCalls == 0 {
		// Nothing to report, or the first read: another process's settings
		// may decide the window these counts go to (they go next round).
		st.calls, st.failures = c.baseCalls, c.baseFailures
		st.script, st.keys = readScript, []string{state}
		st.args = []any{nowMs, ms(s.cfg.KeyTTL), p.maxOpenMs, c.fingerprint}
		return append(steps, st)
	}
	st.keys = append([]string{state, lease}, s.bucketKeys(c.tag, p, nowMs, 0, ahead(p))...)
	st.args = []any{nowMs, p.bucketMs, dCalls, dFailures, p.rate, p.minCalls, p.openMs,
		ms(s.cfg.KeyTTL), s.channel(), c.tag, c.fingerprint, p.maxOpenMs, ahead(p)}
	return append(steps, st)
}

// bucketKeys returns the keys of the window's buckets at nowMs, oldest
// first, with older ones before and ahead ones after.
func (s *Store) bucketKeys(tag string, p params, nowMs int64, older, ahead int) []string {
	prefix := s.windowPrefix(tag)
	b := nowMs / p.bucketMs
	keys := make([]string, 0, p.buckets+older+ahead)
	for i := b - int64(p.buckets+older) + 1; i <= b+int64(ahead); i++ {
		keys = append(keys, prefix+strconv.FormatInt(i, 10))
	}
	return keys
}

// MaxClockSkew is how far apart the clocks of the processes sharing a
// circuit may be while their counts still add up in one window: a flush
// counts the buckets up to MaxClockSkew ahead of its own clock too, which
// only a process whose clock runs ahead can have written. Beyond it, a
// window's counts split between processes. Open durations are measured by
// each process's clock against the tripping one's: they are off by the
// skew.
const MaxClockSkew = 2 * time.Second

// ahead returns how many buckets MaxClockSkew spans, at most the window's.
func ahead(p params) int {
	return int(min((MaxClockSkew.Milliseconds()+p.bucketMs-1)/p.bucketMs, int64(p.buckets)))
}

// settle applies a step's reply.
func (s *Store) settle(st *step, rebase bool) {
	c := st.c
	v, err := st.cmd.Result()
	if err != nil {
		s.markBad(c, err)
		return
	}
	sh, rest, err := parseShared(v)
	if err != nil {
		s.markBad(c, err)
		return
	}
	s.markGood(c)
	switch st.kind {
	case stepTransition:
		s.mu.Lock()
		c.known = sh
		s.mu.Unlock()
		switch {
		case sh.state == st.to && len(rest) > 0 && rest[0] == 1:
			s.clearPending(c, st.to)
		case s.rebuilt(c, st.to) && sh.gen > 0:
			// Another process wrote a state first: the record exists
			// again, and a rebuild has nothing to add to it.
			s.apply(c, sh, st.moves)
		default:
			// Redis moved meanwhile: the transition goes again next round
			// on its generation, and this round's read of c, which would
			// undo it, is not applied (the last transition wins).
			s.mu.Lock()
			c.conflict = true
			s.mu.Unlock()
			s.markDirty(c)
		}
	case stepAcquire:
		if len(rest) > 0 && rest[0] == 1 {
			s.mu.Lock()
			c.known, c.wantLease = sh, false
			c.lease.Store(true)
			s.mu.Unlock()
			return
		}
		if c.lease.Swap(false) { // it was lost: ask again
			s.mu.Lock()
			c.wantLease = true
			s.mu.Unlock()
			s.markDirty(c)
		}
		switch {
		case len(rest) < 2 || rest[1] != 1: // Redis has no record: never read as closed
			s.rebuild(c, sh)
		case sh.state == breaker.Closed:
			s.apply(c, sh, st.moves) // the cluster has closed
		default:
			s.observe(c, sh, st.moves)
		}
	case stepFlush:
		c.baseCalls, c.baseFailures = st.calls, st.failures
		s.mu.Lock()
		c.check = false // read: a hint that came before is answered
		s.mu.Unlock()
		c.read = true // counts held back by the first read go with the next flush
		s.checkConfig(c, sh.cfg)
		if len(rest) < 3 || rest[2] != 1 {
			s.rebuild(c, sh)
			return
		}
		s.observe(c, sh, st.moves)
	}
}

// rebuild answers a circuit Redis has no record of: never written, or lost
// (expired, evicted, a restart without persistence, a failover). A missing
// record is not a closed circuit, and a read never writes one. The merge
// rule: each process that holds the circuit other than closed (open,
// half-open, forced open, disabled) writes its state again, as a
// transition (half-open as open); one that holds it closed keeps its state
// and writes nothing. So after a loss the fleet's circuit is open if any
// of its processes holds it open, and no process that holds it open closes
// it because a record was lost. sh is what the script read: the record's
// absence, generation 0, which the transition's compare-and-set expects.
func (s *Store) rebuild(c *circuit, sh shared) {
	local := c.b.State()
	s.mu.Lock()
	c.known = sh
	write := local != breaker.Closed && !c.pending
	if write {
		c.pending, c.pendingTo, c.rebuild = true, local, true
		if local == breaker.HalfOpen {
			c.pendingTo = breaker.Open
		}
	}
	s.mu.Unlock()
	if write {
		s.lost.Store(true)
		s.nudge()
	}
}

// observe makes the local breaker follow sh, read from Redis, if it differs
// from the shared state last read: Redis is the truth, whether its state
// moved forward (another process) or back (a restart, a replica that was
// behind).
func (s *Store) observe(c *circuit, sh shared, moves uint64) {
	s.mu.Lock()
	changed := sh != c.known
	s.mu.Unlock()
	if changed {
		s.apply(c, sh, moves)
	}
}

func (s *Store) clearPending(c *circuit, to breaker.State) {
	s.mu.Lock()
	if c.pendingTo == to {
		c.pending, c.rebuild = false, false
	}
	s.mu.Unlock()
}

// rebuilt reports whether c's pending transition to to only writes again
// a state Redis lost, and if so drops it.
func (s *Store) rebuilt(c *circuit, to breaker.State) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.pending || !c.rebuild || c.pendingTo != to {
		return false
	}
	c.pending, c.rebuild = false, false
	return true
}

// apply makes the local breaker follow the shared state sh, read by a
// step planned when the breaker had made moves transitions. It does not
// when the breaker has moved since (the read is older than the move: a
// read planned before a trip and applied after it used to reset the
// breaker, and the reset's own event replaced the pending trip, which
// never reached the others), nor when the round's transition of the
// circuit lost its compare-and-set (it goes again on sh's generation).
func (s *Store) apply(c *circuit, sh shared, moves uint64) {
	s.mu.Lock()
	if c.moves != moves || c.conflict {
		c.known, c.conflict = sh, false
		s.mu.Unlock()
		s.markDirty(c)
		return
	}
	c.known = sh
	if sh.state != breaker.HalfOpen {
		c.lease.Store(false)
	}
	if sh.state == breaker.Closed {
		c.wantLease = false
	}
	s.mu.Unlock()
	local := c.b.Snapshot()
	next := breaker.Snapshot{State: sh.state, Generation: local.Generation + 1}
	switch sh.state {
	case breaker.Open, breaker.HalfOpen: // half-open shared: probes are the lease holder's
		if local.State == breaker.Open || local.State == breaker.HalfOpen {
			return
		}
		next.State, next.Trips = breaker.Open, local.Trips+1
		// The fleet's cool-down, on the breaker's clock. One that has ended
		// (or that a script cut short as beyond any open duration) is not
		// followed into half-open here: the lease holder probes, and the
		// breaker waits its own open duration (Restore's, for a zero Until)
		// unless the fleet closes first.
		if left := time.UnixMilli(sh.until).Sub(s.cfg.Clock.Now()); sh.state == breaker.Open && left > 0 {
			next.Until = clock.Or(c.b.Config().Clock).Now().Add(left)
		}
	case breaker.Closed, breaker.ForcedOpen, breaker.Disabled:
		if local.State == sh.state {
			return
		}
	default:
		return
	}
	// The state change this makes has ReasonRestored: onStateChange does
	// not publish it back.
	if c.b.Restore(next) == nil {
		s.applied.Add(1)
	}
}

// markBad isolates a circuit whose keys or replies are unusable: it runs on
// its local state, and the others are not disturbed.
func (s *Store) markBad(c *circuit, err error) {
	s.mu.Lock()
	was := c.bad
	c.bad = true
	s.mu.Unlock()
	if !was {
		s.log.Warn("bwredis: the circuit's shared state is unusable; it runs on its local state", "circuit", c.name, "error", err)
	}
}

// markGood rejoins a circuit to its shared state. What it did while it ran
// alone on its local state is not published: it follows the shared state.
func (s *Store) markGood(c *circuit) {
	s.mu.Lock()
	was := c.bad
	c.bad = false
	if was && !c.rebuild {
		c.pending = false
	}
	s.mu.Unlock()
	if was {
		s.log.Info("bwredis: the circuit's shared state is usable again", "circuit", c.name)
	}
}

// checkConfig compares the config fingerprint stored with the circuit with
// this process's. On a mismatch, the stored one (the first process's)
// decides the shared window, so that the fleet still agrees, and the
// mismatch is reported once.
func (s *Store) checkConfig(c *circuit, stored string) {
	if stored == "" || stored == c.fingerprint {
		return
	}
	p, ok := parseParams(stored)
	if !ok {
		return
	}
	s.mu.Lock()
	was := c.mismatch
	c.mismatch, c.params = true, p
	s.mu.Unlock()
	if !was {
		s.mismatches.Add(1)
		s.log.Warn("bwredis: processes share the circuit with different configs; the shared window follows the first",
			"circuit", c.name, "shared", stored, "local", c.fingerprint)
	}
}

// params are the numbers that decide a shared circuit: its window, the
// rate and minimum that trip it, and its open durations.
type params struct {
	bucketMs, windowMs int64
	buckets            int
	rate               float64
	minCalls           int
	openMs, maxOpenMs  int64
}

// paramsOf derives a circuit's params from its breaker's Config: a breaker
// with a time window shares that window; others use the Store's.
func paramsOf(bc breaker.Config, cfg Config) params {
	window, buckets := cfg.Window, cfg.WindowBuckets
	rate, minCalls := cfg.FailureRate, cfg.MinCalls
	if w, ok := bc.Trip.(breaker.TimeWindow); ok { // with its defaults, from Breaker.Config
		window, buckets, minCalls = w.Length, w.Buckets, w.MinCalls
		if w.FailureRate > 0 {
			rate = w.FailureRate
		}
	}
	bucketMs := max(ms(window/time.Duration(buckets)), 1)
	open, maxOpen := bc.OpenDuration, bc.MaxOpenDuration
	return params{bucketMs: bucketMs, windowMs: bucketMs * int64(buckets), buckets: buckets, rate: rate,
		minCalls: minCalls, openMs: ms(open), maxOpenMs: ms(maxOpen)}
}

func (p params) String() string {
	return fmt.Sprintf("bucket=%d;buckets=%d;rate=%g;min=%d;open=%d;maxopen=%d", p.bucketMs, p.buckets, p.rate, p.minCalls, p.openMs, p.maxOpenMs)
}

// parseParams reads a fingerprint written by params.String, bounding what
// it accepts.
func parseParams(v string) (params, bool) {
	var p params
	n, err := fmt.Sscanf(v, "bucket=%d;buckets=%d;rate=%g;min=%d;open=%d;maxopen=%d", &p.bucketMs, &p.buckets, &p.rate, &p.minCalls, &p.openMs, &p.maxOpenMs)
	if err != nil || n != 6 || p.bucketMs < 1 || p.buckets < 1 || p.buckets > maxWindowBuckets ||
		!(p.rate > 0 && p.rate <= 1) || p.minCalls < 0 || p.minCalls > maxCount || p.openMs < 0 || p.maxOpenMs < p.openMs {
		return params{}, false
	}
	p.windowMs = p.bucketMs * int64(p.buckets)
	return p, true
}

func ms(d time.Duration) int64 { return d.Milliseconds() }
