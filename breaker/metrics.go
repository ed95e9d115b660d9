package breaker

import "time"

// Metrics is a snapshot of a breaker. The lifetime counters only grow
// (Reset does not clear them); each is read atomically, and
// Calls = Successes + Failures + Ignored always holds.
type Metrics struct {
	Name  string
	State State
	// Shadow reports a breaker in shadow mode (Config.Shadow): Rejections
	// counts the calls it would have turned away.
	Shadow bool

	Calls      uint64 // calls let through and finished
	Successes  uint64
	Failures   uint64 // including panics
	Ignored    uint64 // neither success nor failure (context.Canceled, Ignore)
	Rejections uint64 // calls turned away without running
	SlowCalls  uint64 // calls that took at least SlowCallDuration

	Trips        uint64 // transitions into Open
	StateChanges uint64

	// ConsecutiveFailures is the current run of failures while closed,
	// with or without a window; zero in other states.
	ConsecutiveFailures int
	// WindowCalls is the number of outcomes in the sliding window; zero
	// without one. The rates below are over those outcomes.
	WindowCalls  int
	FailureRate  float64
	SlowCallRate float64

	// TimeInState is how long the circuit has been in State.
	TimeInState time.Duration
	// RetryIn is how long until an open circuit lets probes through; zero
	// in other states.
	RetryIn time.Duration
}

// Metrics returns a snapshot of the breaker's counters and state.
func (b *Breaker) Metrics() Metrics {
	e := b.cur.Load()
	now := b.s.clock.Now()
	m := Metrics{
		Name:         b.s.name,
		State:        e.state,
		Shadow:       b.s.shadow,
		Successes:    b.c.successes.Load(),
		Failures:     b.c.failures.Load(),
		Ignored:      b.c.ignored.Load(),
		Rejections:   b.c.rejections.Load(),
		SlowCalls:    b.c.slow.Load(),
		Trips:        b.c.trips.Load(),
		StateChanges: b.c.changes.Load(),
		TimeInState:  now.Sub(e.since),
	}
	m.Calls = m.Successes + m.Failures + m.Ignored
	if e.state == Closed {
		m.ConsecutiveFailures = int(e.consec.Load())
	}
	if e.win != nil {
		e.mu.Lock()
		tot := e.win.counts(now.Sub(b.origin))
		e.mu.Unlock()
		m.WindowCalls = tot.calls
		if tot.calls > 0 {
			m.FailureRate = float64(tot.failures) / float64(tot.calls)
			m.SlowCallRate = float64(tot.slow) / float64(tot.calls)
		}
	}
	if oe, ok := e.reject.(*OpenError); ok {
		m.RetryIn = oe.RetryIn(now)
	}
	return m
}
