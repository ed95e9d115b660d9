package breaker

import (
	"context"
	"strconv"
	"time"
)

// Hooks are functions a breaker calls when something happens to it. Each
// may be nil. They are called outside the breaker's locks, so they may call
// the breaker's methods.
//
// The call hooks (OnSuccess, OnFailure, OnIgnore, OnReject) run on the
// caller's goroutine, after the outcome is recorded, with the call's
// context (for a trace-aware logger, a span, an exemplar): a slow hook
// slows only the call that triggered it. OnStateChange events are delivered one at a
// time and in order, by the goroutine that made the change (or, when
// another delivery is under way, by the goroutine already delivering).
//
// A hook that panics leaves the breaker consistent: the call's outcome is
// recorded, a probe's slot is given back, the state change is made. The
// panic goes on up the stack of the goroutine that ran the hook: the
// caller's, an operator's (Trip, Reset, ...), or the cool-down timer's,
// where, like any unrecovered panic, it ends the program.
type Hooks struct {
	OnStateChange func(StateChange)
	OnSuccess     func(context.Context, CallEvent)
	OnFailure     func(context.Context, CallEvent)
	OnIgnore      func(context.Context, CallEvent)
	OnReject      func(context.Context, RejectEvent)
}

// StateChange describes a transition of a circuit. A change into Open
// says which threshold was crossed (resilience4j's failure-rate and
// slow-call-rate events), with the counts that crossed it: one event, so
// a listener never sees the cause without the change.
type StateChange struct {
	Name     string
	From, To State
	At       time.Time
	// Reason is why the circuit changed state.
	Reason Reason
	// Context is the context of the call whose outcome made the change (a
	// trip, a probe closing or reopening the circuit), so that a listener
	// can tie the change to the caller's trace; context.Background() for a
	// change no call made (a cool-down's end, Trip, Reset).
	Context context.Context
	// Counts are the closed circuit's counts when it tripped; zero for
	// other changes.
	Counts Counts
	// Until is when an open circuit starts to let probes through; zero in
	// other states.
	Until time.Time
}

// Reason says why a circuit changed state.
type Reason uint8

// The reasons for a state change.
const (
	// ReasonManual: an operator's call (Trip, TripFor,
	// HalfOpen, Reset, ForceOpen, Disable).
	ReasonManual Reason = iota
	// ReasonConsecutiveFailures: Consecutive (or a window's
	// ConsecutiveFailures) failures in a row.
	ReasonConsecutiveFailures
	// ReasonFailureRate: the window's failure rate reached its FailureRate.
	ReasonFailureRate
	// ReasonSlowCallRate: the window's slow-call rate reached its
	// SlowCallRate.
	ReasonSlowCallRate
	// ReasonFailureCount: the window held its FailureCount failures.
	ReasonFailureCount
	// ReasonReadyToTrip: a TripFunc, or a window's Func, said so.
	ReasonReadyToTrip
	// ReasonCoolDown: the open duration ended; probes may go through.
	ReasonCoolDown
	// ReasonProbesFailed: a probe failed or was slow (or, with
	// HalfOpen.FailureRate, enough of them did).
	ReasonProbesFailed
	// ReasonProbesPassed: enough probes succeeded.
	ReasonProbesPassed
	// ReasonHalfOpenTimeout: the circuit stayed half-open for
	// HalfOpen.Timeout.
	ReasonHalfOpenTimeout
	// ReasonRestored: Restore applied a Snapshot of another stay in a
	// state (another process's, a shared store's): the change is not this
	// breaker's own news.
	ReasonRestored
)

var reasonNames = [...]string{"manual", "consecutive-failures", "failure-rate", "slow-call-rate",
	"failure-count", "ready-to-trip", "cool-down", "probes-failed", "probes-passed", "half-open-timeout", "restored"}

// String returns the reason's name, e.g. "failure-rate". The names are
// stable, for logs and metric labels.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// CallEvent describes the outcome of a call the breaker let through.
type CallEvent struct {
	Name string
	// State is the state the call was admitted in: Closed, HalfOpen (a
	// probe) or Disabled.
	State State
	// Err is the call's error; ErrPanicked if it panicked.
	Err error
	// Duration is how long the call took, by the breaker's clock.
	Duration time.Duration
	// Slow reports whether the call took at least SlowCallDuration.
	Slow bool
}

// RejectEvent describes a call the breaker turned away.
type RejectEvent struct {
	Name  string
	State State
	// Shadow reports a breaker in shadow mode: the call was not turned
	// away, but an enforcing breaker would have.
	Shadow bool
}

// JoinHooks returns Hooks that call each of hs in turn, skipping nil
// functions, so that several observers can watch one breaker.
func JoinHooks(hs ...Hooks) Hooks {
	var j Hooks
	j.OnStateChange = join(hs, func(h Hooks) func(StateChange) { return h.OnStateChange })
	j.OnSuccess = joinCtx(hs, func(h Hooks) func(context.Context, CallEvent) { return h.OnSuccess })
	j.OnFailure = joinCtx(hs, func(h Hooks) func(context.Context, CallEvent) { return h.OnFailure })
	j.OnIgnore = joinCtx(hs, func(h Hooks) func(context.Context, CallEvent) { return h.OnIgnore })
	j.OnReject = joinCtx(hs, func(h Hooks) func(context.Context, RejectEvent) { return h.OnReject })
	return j
}

// joinCtx is join for the call hooks, which take the call's context.
func joinCtx[E any](hs []Hooks, pick func(Hooks) func(context.Context, E)) func(context.Context, E) {
	var fs []func(context.Context, E)
	for _, h := range hs {
		if f := pick(h); f != nil {
			fs = append(fs, f)
		}
	}
	switch len(fs) {
	case 0:
		return nil
	case 1:
		return fs[0]
	}
	return func(ctx context.Context, e E) {
		for _, f := range fs {
			f(ctx, e)
		}
	}
}

func join[E any](hs []Hooks, pick func(Hooks) func(E)) func(E) {
	var fs []func(E)
	for _, h := range hs {
		if f := pick(h); f != nil {
			fs = append(fs, f)
		}
	}
	switch len(fs) {
	case 0:
		return nil
	case 1:
		return fs[0]
	}
	return func(e E) {
		for _, f := range fs {
			f(e)
		}
	}
}

// dispatch delivers the queued state changes in order, outside b.mu. Only
// one goroutine delivers at a time; the others leave their events to it.
// Events are taken off the queue one at a time, so if a hook panics the
// panic goes on up the delivering goroutine's stack, and the events after
// it stay queued for the next change to deliver.
func (b *Breaker) dispatch() {
	b.mu.Lock()
	if b.dispatching {
		b.mu.Unlock()
		return
	}
	b.dispatching = true
	delivered := false
	defer func() {
		if !delivered { // a hook panicked: let the next change deliver
			b.mu.Lock()
			b.dispatching = false
			b.mu.Unlock()
		}
	}()
	for len(b.events) > 0 {
		ev := b.events[0]
		b.events = b.events[1:]
		b.mu.Unlock()
		b.s.hooks.OnStateChange(ev)
		b.mu.Lock()
	}
	// Cleared under the same lock that saw the queue empty, so an event
	// queued meanwhile is never left without a deliverer.
	b.dispatching = false
	delivered = true
	b.mu.Unlock()
}
