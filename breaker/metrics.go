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
	Ignored    uint64 // neither success nor failure (context.Canceled, Ignore), or not run: the call's context had ended
	Rejections uint64 // calls turned away without running
	SlowCalls  uint64 // calls that took at least SlowCallDuration

	Trips        uint64 // transitions into Open
	StateChanges uint64

	// ConsecutiveFailures is the current run of failures while closed,
	// with or without a window. WindowCalls is the number of outcomes in
	// the sliding window; zero without one. The rates are over those
	// outcomes. While the circuit is not closed, its window is empty (it
	// starts afresh when the circuit closes): these four are then the
	// figures at the trip that opened it, at OpenedAt, so that an open
	// circuit shows what opened it, not a 0 % failure rate.
	ConsecutiveFailures int
	WindowCalls         int
	FailureRate         float64
	SlowCallRate        float64
	// OpenedAt and OpenedBy are when and why the circuit tripped out of
	// closed, while it has not closed since; zero otherwise (and for a
	// circuit forced open or made open).
	OpenedAt time.Time
	OpenedBy Reason

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
	var c Counts
	switch {
	case e.state == Closed:
		c.ConsecutiveFailures = int(e.consec.Load())
		if e.win != nil {
			e.mu.Lock()
			tot := e.win.counts(now.Sub(b.origin))
			e.mu.Unlock()
			c.Calls, c.Failures, c.SlowCalls = tot.calls, tot.failures, tot.slow
		}
	case e.state != Disabled:
		if o := b.opened.Load(); o != nil {
			c, m.OpenedAt, m.OpenedBy = o.counts, o.at, o.reason
		}
	}
	m.ConsecutiveFailures, m.WindowCalls = c.ConsecutiveFailures, c.Calls
	if c.Calls > 0 {
		m.FailureRate = float64(c.Failures) / float64(c.Calls)
		m.SlowCallRate = float64(c.SlowCalls) / float64(c.Calls)
	}
	if oe, ok := e.reject.(*OpenError); ok {
		m.RetryIn = oe.retryIn(now)
	}
	return m
}
