package main

import (
	"time"

	"github.com/breakwater-go/breakwater/clock"
)

// scaledClock runs time faster than the wall clock by a factor: a timer of
// d fires after d/factor of real time, and Now has moved by d when it does.
// It lets the demo show a timeline of tens of seconds in a second or two.
type scaledClock struct {
	realStart time.Time // wall-clock start, with its monotonic reading
	start     time.Time // what Now returns at realStart
	factor    float64
}

func newScaledClock(factor float64) *scaledClock {
	now := time.Now()
	return &scaledClock{realStart: now, start: now.Round(0), factor: factor}
}

func (c *scaledClock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.realStart)) * c.factor))
}

func (c *scaledClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *scaledClock) real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.factor)
}

func (c *scaledClock) NewTimer(d time.Duration) clock.Timer {
	return scaledTimer{time.NewTimer(c.real(d))}
}

func (c *scaledClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return scaledTimer{time.AfterFunc(c.real(d), f)}
}

// Sleep waits for d of scaled time.
func (c *scaledClock) Sleep(d time.Duration) { time.Sleep(c.real(d)) }

type scaledTimer struct{ t *time.Timer }

func (t scaledTimer) C() <-chan time.Time { return t.t.C }
func (t scaledTimer) Stop() bool          { return t.t.Stop() }
