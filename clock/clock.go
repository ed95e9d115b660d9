// Package clock is the seam through which every Breakwater component reads
// time and waits.
//
// Production code uses [System], which is the time package. Tests use the fake
// in package clocktest, so that a 30-second cool-down or a chain of retry
// sleeps runs in microseconds and nothing waits on the wall clock. The seam is
// public on purpose: code that uses Breakwater can be tested the same way.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and makes timers. Implementations must be safe for
// concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Since returns the time elapsed since t.
	Since(t time.Time) time.Duration
	// NewTimer returns a timer that sends the time on its channel once d has
	// elapsed.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine once d has elapsed, unless the
	// returned timer is stopped first. Its channel is nil.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is the part of *time.Timer that Breakwater uses.
type Timer interface {
	// C returns the channel on which the timer delivers the time; nil for a
	// timer made by AfterFunc.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether the call
	// stopped the timer, false if it had already fired or been stopped.
	Stop() bool
}

// System is the real clock: the time package.
var System Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time                  { return time.Now() }
func (systemClock) Since(t time.Time) time.Duration { return time.Since(t) }
func (systemClock) NewTimer(d time.Duration) Timer  { return systemTimer{time.NewTimer(d)} }
func (systemClock) AfterFunc(d time.Duration, f func()) Timer {
	return systemTimer{time.AfterFunc(d, f)}
}

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.t.C }
func (t systemTimer) Stop() bool          { return t.t.Stop() }

// Or returns c, or System when c is nil. Components use it to give a nil
// Clock field its documented meaning.
func Or(c Clock) Clock {
	if c == nil {
		return System
	}
	return c
}

// Sleep waits for d on clock c, or until ctx is done. It returns nil after a
// full sleep and context.Cause(ctx) when the context ended first. A
// non-positive d returns at once (with the context's error if it is done).
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return nil
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
