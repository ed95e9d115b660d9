package breaker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/internal/stripe"
	"github.com/breakwater-go/breakwater/outcome"
)

// Breaker is a circuit breaker. It is safe for concurrent use; one Breaker
// can protect calls of any result type. Build one with New.
type Breaker struct {
	s      settings
	origin time.Time             // call start times are kept as offsets from it
	cur    atomic.Pointer[epoch] // the current state; replaced, never changed

	mu          sync.Mutex // guards the fields below and every transition
	trips       int        // trips since the circuit last closed
	gen         uint64     // the current epoch's generation
	timer       clock.Timer
	events      []StateChange
	dispatching bool
	opened      atomic.Pointer[opening] // what opened the circuit; nil while closed

	// Lifetime counters, on their own cache lines: every call writes one,
	// and cur is read by every call. The two that the fast paths write are
	// striped so that cores do not contend for them.
	_ [64]byte
	c counters
}

type counters struct {
	successes, rejections                   stripe.Counter
	failures, ignored, slow, trips, changes atomic.Uint64
}

// epoch is one stay in a state. A transition installs a new epoch, so an
// outcome reported late, after the state changed, lands in the old epoch
// and cannot disturb the new state's accounting.
type epoch struct {
	b      *Breaker
	state  State
	gen    uint64 // counts the epochs: see Snapshot.Generation
	plain  bool   // closed, with nothing to do for a success but count it
	since  time.Time
	reject error // an *OpenError for the states that turn calls away

	consec atomic.Int64 // closed: consecutive failures
	probes atomic.Int32 // half-open: probe slots taken
	passed atomic.Int32 // half-open: successful probes
	failed atomic.Int32 // half-open: failed or slow probes

	mu  sync.Mutex // guards win
	win window     // closed: the sliding window, or nil
}

// New returns a breaker described by cfg, or a *config.Error naming the
// first field of cfg that is out of range.
func New(cfg Config) (*Breaker, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	return newBreaker(s), nil
}

func newBreaker(s settings) *Breaker {
	now := s.clock.Now()
	b := &Breaker{s: s, origin: now}
	b.cur.Store(b.newEpoch(Closed, now, time.Time{}))
	switch s.config.InitialState {
	case Open: // as after a first trip, though none is counted
		b.trips = 1
		b.enterLocked(Open, now, s.open)
	case ForcedOpen, Disabled:
		b.enterLocked(s.config.InitialState, now, 0)
	}
	return b
}

func (b *Breaker) newEpoch(state State, now, until time.Time) *epoch {
	e := &epoch{b: b, state: state, since: now, plain: state == Closed && b.s.plain}
	switch state {
	case Closed:
		e.win = newWindow(&b.s, now.Sub(b.origin))
	case Open, ForcedOpen, HalfOpen:
		e.reject = &OpenError{Name: b.s.name, State: state, Until: until}
	}
	return e
}

// Config returns the Config the breaker was made from, with its Name and
// every default filled in.
func (b *Breaker) Config() Config { return b.s.config }

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.s.name }

// State returns the circuit's current state.
func (b *Breaker) State() State { return b.cur.Load().state }

// permit is what a call admitted by Do or Allow keeps: the circuit's stay
// it was admitted in and when it started.
type permit struct {
	b     *Breaker
	e     *epoch
	start time.Duration // since b.origin
}

// Allow asks the breaker to let one call through: the first step of the
// two-step form, for code that cannot be put in a function. ctx is the
// call's, handed to the call hooks. It returns a Permit, or an error
// matching ErrOpen when the circuit turns the call away. The caller must
// end the Permit exactly once, even if the call panics (use defer): Done
// with the call's error, or Release for a call that says nothing of the
// dependency. A half-open probe holds its slot until then. With hooks
// that are given the call's context (call hooks, OnStateChange), the
// Permit keeps ctx for Done in one small allocation; without them, and
// through Do either way, a call allocates nothing.
func (b *Breaker) Allow(ctx context.Context) (outcome.Permit, error) {
	p, err := b.allowSlow(ctx)
	switch {
	case err != nil:
		return outcome.Permit{}, err
	case p.e == unrecorded: // a shadow breaker's: nothing is recorded
		return outcome.Permit{}, nil
	case b.s.keepContext:
		return outcome.Permit{Holder: &contextHolder{p.e, ctx}, Start: p.start}, nil
	}
	return outcome.Permit{Holder: (*epochHolder)(p.e), Start: p.start}, nil
}

func (b *Breaker) allowSlow(ctx context.Context) (permit, error) {
	e := b.cur.Load()
	switch e.state {
	case Closed, Disabled:
	case HalfOpen:
		if (b.s.allowProbe != nil && !b.s.allowProbe(b.s.name)) || !e.takeProbe(b.s.probes) {
			return b.rejected(ctx, e)
		}
	default:
		return b.rejected(ctx, e)
	}
	p := permit{b: b, e: e}
	if b.s.timed {
		p.start = b.s.clock.Since(b.origin)
	}
	return p, nil
}

// epochHolder settles the Permits Allow hands out in an epoch, for a
// breaker without hooks that are given the call's context.
type epochHolder epoch

// Done reports the outcome of the call of a Permit from Allow.
func (h *epochHolder) Done(start time.Duration, _ int64, err error) {
	e := (*epoch)(h)
	e.b.settle(e, nil, start, err)
}

// Release ends the call of a Permit from Allow without a verdict.
func (h *epochHolder) Release(start time.Duration, _ int64) {
	e := (*epoch)(h)
	e.b.finish(permit{b: e.b, e: e, start: start}, nil, ignored, nil)
}

// contextHolder settles a Permit of a breaker with hooks that are given
// the call's context (settings.keepContext), which it keeps: the one
// allocation of the two-step form.
type contextHolder struct {
	e   *epoch
	ctx context.Context
}

// Done reports the outcome of the call of a Permit from Allow.
func (h *contextHolder) Done(start time.Duration, _ int64, err error) {
	h.e.b.settle(h.e, h.ctx, start, err)
}

// Release ends the call of a Permit from Allow without a verdict.
func (h *contextHolder) Release(start time.Duration, _ int64) {
	h.e.b.finish(permit{b: h.e.b, e: h.e, start: start}, h.ctx, ignored, nil)
}

// settle records the outcome of a call admitted in e.
func (b *Breaker) settle(e *epoch, ctx context.Context, start time.Duration, err error) {
	if err == nil && e.plain {
		b.succeedClosed(e) // the common case
		return
	}
	b.done(permit{b: b, e: e, start: start}, ctx, err)
}

// done classifies err and records it. The classifiers are the user's
// (IsFailure, and the Is methods errors.Is calls): if one panics, the call
// counts as failed and the panic goes on, so that no permit is kept.
func (b *Breaker) done(p permit, ctx context.Context, err error) {
	if p.e == unrecorded {
		return
	}
	o := failure
	defer func() { b.finish(p, ctx, o, err) }()
	o = b.s.classify(err)
}

// succeedClosed records a success in a closed circuit without a window,
// hooks or timing: one shared atomic add, and a reset of the failure run
// that writes only when there is a run to reset.
func (b *Breaker) succeedClosed(e *epoch) {
	b.c.successes.Add(1)
	if e.consec.Load() != 0 {
		e.consec.Store(0)
	}
}

// rejected turns a call away; in shadow mode it only counts it, and lets
// it through unrecorded.
func (b *Breaker) rejected(ctx context.Context, e *epoch) (permit, error) {
	b.c.rejections.Add(1)
	shadow := b.s.shadow && e.state != ForcedOpen
	if f := b.s.hooks.OnReject; f != nil {
		f(ctx, RejectEvent{Name: b.s.name, State: e.state, Shadow: shadow})
	}
	if shadow {
		return permit{b: b, e: unrecorded}, nil
	}
	return permit{}, e.reject
}

// unrecorded is the epoch of the calls a shadow breaker would have turned
// away: their outcomes are dropped. It is never written.
var unrecorded = &epoch{state: Open}

func (e *epoch) takeProbe(limit int32) bool {
	for {
		n := e.probes.Load()
		if n >= limit {
			return false
		}
		if e.probes.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Do runs fn if the circuit lets it, and records its outcome. It returns
// fn's error, or an error matching ErrOpen without calling fn. If ctx is
// already done, Do returns ctx.Err() without calling fn, and counts the
// call ignored. A panic in fn counts as a failure and goes on up the
// stack. breakwater.Wrap runs a function with a result through it.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) (err error) {
	if err = ctx.Err(); err != nil {
		b.c.ignored.Add(1) // not run, and no rejection: the counters still add up
		return err
	}
	p := permit{b: b, e: b.cur.Load()}
	if !p.e.plain {
		if p, err = b.allowSlow(ctx); err != nil {
			return err
		}
	}
	defer p.doneAt(ctx, &err)
	err = errPanicking // still set when doneAt runs if fn panics
	err = fn(ctx)
	return err
}

// errPanicking marks, in Do, a call that has not returned.
var errPanicking = errors.New("breaker: call did not return")

// doneAt is Done for Do, which defers it with a pointer to its result
// error.
func (p permit) doneAt(ctx context.Context, err *error) {
	switch {
	case *err == nil && p.e.plain:
		p.b.succeedClosed(p.e)
	case *err == errPanicking:
		p.b.finish(p, ctx, failure, ErrPanicked)
	default:
		p.b.done(p, ctx, *err)
	}
}

// finish records the outcome of a permitted call.
func (b *Breaker) finish(p permit, ctx context.Context, o verdict, err error) {
	e := p.e
	if e == unrecorded {
		return
	}
	var at, took time.Duration // at: since b.origin, read only when needed
	if b.s.timed || b.s.timeWindow > 0 {
		at = b.s.clock.Since(b.origin)
		if b.s.timed {
			took = at - p.start
		}
	}
	slow := b.s.slowCall > 0 && took >= b.s.slowCall
	if slow {
		b.c.slow.Add(1)
	}
	switch o {
	case success:
		b.c.successes.Add(1)
	case failure:
		b.c.failures.Add(1)
	default:
		b.c.ignored.Add(1)
	}

	if b.s.timed { // call hooks come before the state change they cause
		hook := b.s.hooks.OnSuccess
		switch o {
		case failure:
			hook = b.s.hooks.OnFailure
		case ignored:
			hook = b.s.hooks.OnIgnore
		}
		if hook != nil {
			// Deferred, the outcome is recorded even if the hook panics: a
			// user's hook must not keep a probe's slot or lose a failure.
			defer b.record(ctx, e, o, slow, at, err)
			if ctx == nil { // Allow was given no context
				ctx = context.Background()
			}
			hook(ctx, CallEvent{Name: b.s.name, State: e.state, Err: err, Duration: took, Slow: slow})
			return
		}
	}
	b.record(ctx, e, o, slow, at, err)
}

// record applies an outcome to the state it was admitted in.
// ctx is the call's: the state change the outcome causes carries it.
func (b *Breaker) record(ctx context.Context, e *epoch, o verdict, slow bool, at time.Duration, err error) {
	switch e.state {
	case Closed:
		b.recordClosed(ctx, e, o, slow, at, err)
	case HalfOpen:
		b.recordProbe(ctx, e, o, slow, err)
	}
}

func (b *Breaker) recordClosed(ctx context.Context, e *epoch, o verdict, slow bool, at time.Duration, err error) {
	// The run of failures is kept with a window too, for Metrics and
	// a TripFunc.
	var c Counts
	switch o {
	case failure:
		c.ConsecutiveFailures = int(e.consec.Add(1))
	case success:
		if e.consec.Load() != 0 { // skip the shared write when already zero
			e.consec.Store(0)
		}
	case ignored:
		return
	}
	if e.win != nil {
		e.mu.Lock()
		tot := e.win.record(at, o == failure, slow)
		e.mu.Unlock()
		c.Calls, c.Failures, c.SlowCalls = tot.calls, tot.failures, tot.slow
	} else if o == success && !slow {
		return // a success cannot trip a circuit without a window
	}
	if f := b.s.readyToTrip; f != nil { // it alone decides, after failures and slow calls
		if (o == failure || slow) && f(c) {
			b.trip(e, cause{reason: ReasonReadyToTrip, counts: c, ctx: ctx}, err)
		}
		return
	}
	if why, trip := b.s.tripReason(c); trip {
		b.trip(e, cause{reason: why, counts: c, ctx: ctx}, err)
	}
}

func (b *Breaker) recordProbe(ctx context.Context, e *epoch, o verdict, slow bool, err error) {
	failed := o == failure || slow // a slow probe fails, window or not
	// The slot is given back even if a state-change hook run by the
	// transition panics: always when the limit is on probes in flight; per
	// period, only by a probe that says nothing.
	if b.s.inFlight || !failed && o == ignored {
		defer e.probes.Add(-1)
	}
	var passed, fails int32
	switch {
	case failed:
		fails, passed = e.failed.Add(1), e.passed.Load()
	case o == success:
		passed, fails = e.passed.Add(1), e.failed.Load()
	default:
		return
	}
	if b.s.halfOpenRate == 0 {
		switch {
		case failed:
			b.trip(e, cause{reason: ReasonProbesFailed, ctx: ctx}, err)
		case passed >= b.s.toClose:
			b.transition(e, Closed, cause{reason: ReasonProbesPassed, ctx: ctx})
		}
		return
	}
	// By rate over the period's probes: reopen once the failures reach the
	// rate, close once they can no longer reach it. The two cannot both
	// hold, as fails+passed never exceeds the probes admitted.
	limit := b.s.halfOpenRate * float64(b.s.probes)
	switch {
	case float64(fails) >= limit:
		b.trip(e, cause{reason: ReasonProbesFailed, ctx: ctx}, err)
	case float64(b.s.probes-passed) < limit:
		b.transition(e, Closed, cause{reason: ReasonProbesPassed, ctx: ctx})
	}
}

// opening is the trip that opened the circuit out of closed: when, why,
// and the counts that made it.
type opening struct {
	at     time.Time
	reason Reason
	counts Counts
}

// cause is why a transition is made, and for a move into Open, for how
// long.
type cause struct {
	reason Reason
	counts Counts
	open   time.Duration   // > 0: the open duration asked for, capped by MaxOpenDuration
	until  time.Time       // non-zero: open until then (TripFor)
	ctx    context.Context // the call whose outcome made the change; nil for others
}

// trip opens the circuit from epoch from, asking OpenDurationFunc how long
// for. The function is the user's, run outside the lock: if it panics,
// the trip is still made, for the configured duration.
func (b *Breaker) trip(from *epoch, c cause, err error) {
	if f := b.s.openFor; f != nil {
		asked := false
		defer func() {
			if !asked {
				b.transition(from, Open, c)
			}
		}()
		d := f(err)
		asked = true
		c.open = d
	}
	b.transition(from, Open, c)
}

// transition moves the circuit from epoch from to state to. It does nothing
// if from is no longer current: another goroutine got there first.
func (b *Breaker) transition(from *epoch, to State, c cause) {
	b.mu.Lock()
	if b.cur.Load() != from {
		b.mu.Unlock()
		return
	}
	b.setLocked(to, c)
	b.mu.Unlock()
	b.dispatch()
}

// setLocked moves the circuit to state to, and queues the state change's
// event. Callers hold b.mu and call b.dispatch after unlocking it.
func (b *Breaker) setLocked(to State, c cause) {
	now := b.s.clock.Now()
	from := b.cur.Load()
	var open time.Duration
	switch to {
	case Open:
		if from.state != Open { // a new cool-down on an open circuit is no trip
			b.trips++
			b.c.trips.Add(1)
		}
		if b.trips == 1 && from.state != Open { // the trip out of closed
			b.opened.Store(&opening{at: now, reason: c.reason, counts: c.counts})
		}
		switch {
		case !c.until.IsZero():
			open = c.until.Sub(now)
		case c.open > 0:
			open = min(c.open, b.s.maxOpen)
		default:
			open = b.s.openDuration(max(b.trips, 1))
		}
	case Closed, Disabled, ForcedOpen:
		b.trips = 0
		b.opened.Store(nil)
	}
	b.enterLocked(to, now, open)
	if from.state != to {
		b.c.changes.Add(1)
		if b.s.hooks.OnStateChange != nil {
			ev := StateChange{Name: b.s.name, From: from.state, To: to, At: now, Reason: c.reason, Context: c.ctx}
			if ev.Context == nil {
				ev.Context = context.Background()
			}
			if to == Open {
				ev.Counts = c.counts
				ev.Until = now.Add(open)
			}
			b.events = append(b.events, ev)
		}
	}
}

// enterLocked installs a new epoch in state to, open for open when to is
// Open. Callers hold b.mu, or own b alone.
func (b *Breaker) enterLocked(to State, now time.Time, open time.Duration) *epoch {
	var until time.Time
	if to == Open {
		until = now.Add(open)
	}
	b.gen++
	e := b.newEpoch(to, now, until)
	e.gen = b.gen
	b.install(e, open)
	return e
}

// install makes e the current epoch, and arms its timer: the end of an
// open duration (open; none when it is not positive, for the caller to
// move on at once), or the half-open timeout. Callers hold b.mu, or own b
// alone.
func (b *Breaker) install(e *epoch, open time.Duration) {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	to := e.state
	b.cur.Store(e)
	switch {
	case to == Open && open > 0:
		b.timer = b.s.clock.AfterFunc(open, func() { b.transition(e, HalfOpen, cause{reason: ReasonCoolDown}) })
	case to == HalfOpen && b.s.halfOpenTimeout > 0:
		b.timer = b.s.clock.AfterFunc(b.s.halfOpenTimeout, func() {
			b.transition(e, Open, cause{reason: ReasonHalfOpenTimeout})
		})
	}
}
