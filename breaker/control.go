package breaker

import "time"

// Trip opens the circuit now, as if it had just failed: it rejects calls
// for the open duration and then lets probes through as usual. A trip is a
// move into Open from another state: on a circuit already open, Trip does
// nothing (no trip counted, no growth of the open duration, no event, the
// cool-down unchanged).
func (b *Breaker) Trip() { b.force(Open, time.Time{}) }

// TripFor opens the circuit for d, whatever the configured open duration:
// for an operator who knows how long a dependency will be away, or a
// server that said so. On a circuit already open it moves the end of the
// cool-down to d from now, without counting another trip. A d of zero or
// less lets probes through at once, as HalfOpen does.
func (b *Breaker) TripFor(d time.Duration) {
	if d <= 0 {
		b.HalfOpen()
		return
	}
	b.force(Open, b.s.clock.Now().Add(d))
}

// HalfOpen ends the circuit's cool-down now: it lets probes through, whose
// outcomes close or reopen it as usual. It works from any state but
// half-open, where it does nothing.
func (b *Breaker) HalfOpen() { b.force(HalfOpen, time.Time{}) }

// Reset closes the circuit and clears its window, consecutive-failure count
// and open-duration growth. The lifetime counters in Metrics are kept.
// Reset also ends ForcedOpen and Disabled.
func (b *Breaker) Reset() { b.force(Closed, time.Time{}) }

// ForceOpen rejects every call until Reset: an emergency stop for a
// dependency that must not be called.
func (b *Breaker) ForceOpen() { b.force(ForcedOpen, time.Time{}) }

// Disable lets every call through and never trips until Reset: an
// emergency bypass. Outcomes are still counted in Metrics.
func (b *Breaker) Disable() { b.force(Disabled, time.Time{}) }

// Gate reports whether the circuit lets calls through now. It returns a
// nil rejection when it does (closed, disabled, half-open); otherwise the
// error it turns calls away with, and how long until it lets probes
// through: what is left of the cool-down when it is open, zero when no
// such time is known (forced open). Its shape is retry.Options.Gate's, so
// a retry policy around the breaker does not sleep before an attempt the
// circuit would reject.
func (b *Breaker) Gate() (wait time.Duration, rejection error) {
	e := b.cur.Load()
	switch e.state {
	case Open:
		if b.s.shadow {
			return 0, nil
		}
		return e.reject.(*OpenError).retryIn(b.s.clock.Now()), e.reject
	case ForcedOpen:
		return 0, e.reject
	}
	return 0, nil
}

// force moves the circuit to state to on an operator's order; until, when
// set, ends an open state.
func (b *Breaker) force(to State, until time.Time) {
	b.mu.Lock()
	if st := b.cur.Load().state; (to == Open && until.IsZero() || to == HalfOpen) && st == to {
		b.mu.Unlock()
		return
	}
	b.setLocked(to, cause{reason: ReasonManual, until: until})
	b.mu.Unlock()
	b.dispatch()
}
