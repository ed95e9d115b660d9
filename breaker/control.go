package breaker

import "time"

// Trip opens the circuit now, as if it had just failed: it rejects calls
// for the open duration and then lets probes through as usual. A trip is a
// move into Open from another state: on a circuit already open, Trip does
// nothing (no trip counted, no growth of the open duration, no event, the
// cool-down unchanged).
func (b *Breaker) Trip() { b.force(Open) }

// Reset closes the circuit and clears its window, consecutive-failure count
// and open-duration growth. The lifetime counters in Metrics are kept.
// Reset also ends ForcedOpen and Disabled.
func (b *Breaker) Reset() { b.force(Closed) }

// ForceOpen rejects every call until Reset: an emergency stop for a
// dependency that must not be called.
func (b *Breaker) ForceOpen() { b.force(ForcedOpen) }

// Disable lets every call through and never trips until Reset: an
// emergency bypass. Outcomes are still counted in Metrics.
func (b *Breaker) Disable() { b.force(Disabled) }

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
		return e.reject.(*OpenError).RetryIn(b.s.clock.Now()), e.reject
	case ForcedOpen:
		return 0, e.reject
	}
	return 0, nil
}

func (b *Breaker) force(to State) {
	b.mu.Lock()
	if to == Open && b.cur.Load().state == Open {
		b.mu.Unlock()
		return
	}
	b.setLocked(to)
	b.mu.Unlock()
	b.dispatch()
}
