package breaker

import (
	"slices"
	"time"
)

// window is a sliding window of call outcomes. Both kinds keep running
// totals that are updated by subtracting what leaves the window (subtract
// on evict), so reading the totals costs O(1). Times are offsets from the
// breaker's origin: a monotonic reading, cheaper than the wall clock.
// Callers hold epoch.mu.
type window interface {
	// record adds one outcome at time at and returns the totals after it.
	record(at time.Duration, failed, slow bool) counts
	// counts returns the totals as of time at.
	counts(at time.Duration) counts
	// clone returns a copy whose times are shift later: a window moving
	// to a breaker whose origin is shift earlier.
	clone(shift time.Duration) window
}

// counts are the totals of a window.
type counts struct{ calls, failures, slow int }

// Counts are what a closed circuit has counted: what a TripFunc decides
// on, and what a StateChange into Open reports.
type Counts struct {
	// Calls, Failures and SlowCalls are the sliding window's totals; zero
	// without a window.
	Calls, Failures, SlowCalls int
	// ConsecutiveFailures is the current run of failures.
	ConsecutiveFailures int
}

// tripReason reports whether the counts call for opening the circuit by
// the built-in thresholds, and which.
func (s *settings) tripReason(c Counts) (Reason, bool) {
	switch {
	case s.consecutive > 0 && int64(c.ConsecutiveFailures) >= s.consecutive:
		return ReasonConsecutiveFailures, true
	case s.failureCount > 0 && c.Failures >= s.failureCount:
		return ReasonFailureCount, true
	case c.Calls < s.minCalls: // at least 1
		return 0, false
	case s.failureRate > 0 && float64(c.Failures)/float64(c.Calls) >= s.failureRate:
		return ReasonFailureRate, true
	case s.slowRate > 0 && float64(c.SlowCalls)/float64(c.Calls) >= s.slowRate:
		return ReasonSlowCallRate, true
	}
	return 0, false
}

func newWindow(s *settings, start time.Duration) window {
	switch {
	case s.countWindow > 0:
		return &countWindow{ring: make([]uint8, s.countWindow)}
	case s.timeWindow > 0:
		return &timeWindow{
			buckets: make([]bucket, s.buckets),
			width:   s.timeWindow / time.Duration(s.buckets),
			origin:  start,
		}
	}
	return nil
}

const (
	flagFailed uint8 = 1 << iota
	flagSlow
)

// countWindow holds the outcomes of the last len(ring) calls.
type countWindow struct {
	ring []uint8 // one flag set per call
	next int     // where the next outcome goes
	tot  counts
}

func (w *countWindow) record(_ time.Duration, failed, slow bool) counts {
	if w.tot.calls == len(w.ring) {
		w.tot.sub(w.ring[w.next])
	} else {
		w.tot.calls++
	}
	var f uint8
	if failed {
		f |= flagFailed
		w.tot.failures++
	}
	if slow {
		f |= flagSlow
		w.tot.slow++
	}
	w.ring[w.next] = f
	w.next = (w.next + 1) % len(w.ring)
	return w.tot
}

func (w *countWindow) counts(time.Duration) counts { return w.tot }

func (w *countWindow) clone(time.Duration) window {
	c := *w
	c.ring = slices.Clone(w.ring)
	return &c
}

// sub removes an evicted outcome, which stays counted in calls: its slot
// is reused by the outcome being recorded.
func (c *counts) sub(f uint8) {
	if f&flagFailed != 0 {
		c.failures--
	}
	if f&flagSlow != 0 {
		c.slow--
	}
}

// timeWindow holds the outcomes of the last len(buckets)×width of time.
// Bucket n covers [origin+n×width, origin+(n+1)×width) and lives in slot
// n mod len(buckets); head is the newest bucket number.
type timeWindow struct {
	buckets []bucket
	width   time.Duration
	origin  time.Duration
	head    int64
	tot     counts
}

type bucket struct{ calls, failures, slow int }

func (w *timeWindow) record(at time.Duration, failed, slow bool) counts {
	w.advance(at)
	b := &w.buckets[w.head%int64(len(w.buckets))]
	b.calls++
	w.tot.calls++
	if failed {
		b.failures++
		w.tot.failures++
	}
	if slow {
		b.slow++
		w.tot.slow++
	}
	return w.tot
}

func (w *timeWindow) counts(at time.Duration) counts {
	w.advance(at)
	return w.tot
}

func (w *timeWindow) clone(shift time.Duration) window {
	c := *w
	c.buckets = slices.Clone(w.buckets)
	c.origin += shift
	return &c
}

// advance expires the buckets that have slid out of the window by time at.
func (w *timeWindow) advance(at time.Duration) {
	n := int64((at - w.origin) / w.width)
	if n <= w.head {
		return
	}
	steps := min(n-w.head, int64(len(w.buckets)))
	for i := int64(1); i <= steps; i++ {
		b := &w.buckets[(w.head+i)%int64(len(w.buckets))]
		w.tot.calls -= b.calls
		w.tot.failures -= b.failures
		w.tot.slow -= b.slow
		*b = bucket{}
	}
	w.head = n
}
