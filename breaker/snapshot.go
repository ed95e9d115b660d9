package breaker

import (
	"context"
	"fmt"
	"time"
)

// Snapshot is a circuit's state as a file or a shared store keeps it, so
// that breakers in other processes can follow one circuit: Snapshot reads
// it out of a breaker, Restore puts it into one. The CLI's state file and
// bwredis drive real breakers this way.
type Snapshot struct {
	// State is the circuit's state.
	State State `json:"state"`
	// Generation numbers the circuit's stays in a state: each transition
	// makes a new one. Two snapshots of one Generation and State are of the
	// same stay, whose counts may have moved.
	Generation uint64 `json:"generation"`
	// Since is when the circuit entered State.
	Since time.Time `json:"since,omitzero"`
	// Until is when an open circuit lets probes through; zero in the other
	// states. Restore opens a circuit whose Until is zero for its
	// configured open duration, as Trip does.
	Until time.Time `json:"until,omitzero"`
	// Trips counts the trips since the circuit last closed, which grow the
	// open duration (Config.OpenDurationMultiplier).
	Trips int `json:"trips,omitzero"`
	// ConsecutiveFailures is a closed circuit's current run of failures.
	ConsecutiveFailures int `json:"consecutive_failures,omitzero"`
}

// Snapshot returns the circuit's state now. A sliding window's counts are
// not in it: they are this process's (bwredis shares them its own way).
func (b *Breaker) Snapshot() Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.cur.Load()
	s := Snapshot{State: e.state, Generation: e.gen, Since: e.since, Trips: b.trips}
	switch e.state {
	case Open:
		s.Until = e.reject.(*OpenError).Until
	case Closed:
		s.ConsecutiveFailures = int(e.consec.Load())
	}
	return s
}

// Restore makes the circuit follow s. When s is the stay the circuit is
// in (the same Generation and State), it takes s's counts and nothing
// else changes: permits taken before keep reporting to it. Otherwise the
// circuit moves to s's stay, as of s.Since, with the StateChange's Reason
// ReasonRestored, and the outcomes of calls admitted before no longer
// count; an open circuit whose Until has passed goes on to half-open at
// once, as its timer would have made it (a change of its own, with
// ReasonCoolDown). Its next transitions number their generations from
// s.Generation. Metrics count this breaker's own calls and trips: a
// restored open state is a state change, not a trip. An invalid s (an unknown state, a negative count) is an
// error and changes nothing.
func (b *Breaker) Restore(s Snapshot) error {
	switch {
	case s.State < Closed || s.State > Disabled:
		return fmt.Errorf("breaker: invalid Snapshot.State %v", s.State)
	case s.Trips < 0 || s.ConsecutiveFailures < 0:
		return fmt.Errorf("breaker: invalid Snapshot: negative counts (Trips %d, ConsecutiveFailures %d)", s.Trips, s.ConsecutiveFailures)
	}
	b.mu.Lock()
	cur := b.cur.Load()
	b.trips = s.Trips
	if s.Generation == cur.gen && s.State == cur.state {
		if s.State == Closed {
			cur.consec.Store(int64(min(s.ConsecutiveFailures, maxCount)))
		}
		b.mu.Unlock()
		return nil
	}
	now := b.s.clock.Now()
	since := s.Since
	if since.IsZero() || since.After(now) {
		since = now
	}
	var until time.Time
	if s.State == Open {
		until = s.Until
		if until.IsZero() {
			until = since.Add(b.s.openDuration(max(s.Trips, 1)))
		}
	}
	e := b.newEpoch(s.State, since, until)
	e.gen, b.gen = s.Generation, s.Generation
	if s.State == Closed {
		e.consec.Store(int64(min(s.ConsecutiveFailures, maxCount)))
	}
	switch s.State {
	case Closed, Disabled, ForcedOpen:
		b.opened.Store(nil)
	case Open:
		if b.opened.Load() == nil {
			b.opened.Store(&opening{at: since, reason: ReasonRestored})
		}
	}
	b.install(e, max(until.Sub(now), 0))
	if cur.state != s.State {
		b.c.changes.Add(1)
		if b.s.hooks.OnStateChange != nil {
			ev := StateChange{Name: b.s.name, From: cur.state, To: s.State, At: now, Reason: ReasonRestored,
				Until: until, Context: context.Background()}
			b.events = append(b.events, ev)
		}
	}
	if s.State == Open && !until.After(now) {
		b.setLocked(HalfOpen, cause{reason: ReasonCoolDown})
	}
	b.mu.Unlock()
	b.dispatch()
	return nil
}

// Inherit makes b carry on prev's circuit, as when a configuration
// changes and a new breaker takes over from an old one: b takes prev's
// state as Restore(prev.Snapshot()) does, and, when both are closed and
// b's sliding window has the shape of prev's (the same kind, size, length
// and buckets), the outcomes in prev's window, so that a rate over the
// window does not start again from nothing. Outcomes prev records later
// stay prev's. Call it before b takes calls.
func (b *Breaker) Inherit(prev *Breaker) {
	_ = b.Restore(prev.Snapshot()) // a breaker's own snapshot is valid
	if b.s.countWindow != prev.s.countWindow || b.s.timeWindow != prev.s.timeWindow || b.s.buckets != prev.s.buckets {
		return
	}
	from, to := prev.cur.Load(), b.cur.Load()
	if from.state != Closed || to.state != Closed || from.win == nil || to.win == nil {
		return
	}
	from.mu.Lock()
	w := from.win.clone(prev.origin.Sub(b.origin))
	from.mu.Unlock()
	to.mu.Lock()
	to.win = w
	to.mu.Unlock()
}
