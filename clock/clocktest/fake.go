// Package clocktest provides a fake clock for tests of code that uses
// Breakwater, and of Breakwater itself.
//
// Time stands still on a [Fake] until the test moves it with [Fake.Advance]
// or [Fake.Set]. Timers due by then fire in deadline order, each seeing the
// clock at its own deadline, so a test of a 30-second cool-down runs in
// microseconds and always takes the same path.
package clocktest

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/breakwater-go/breakwater/clock"
)

// Epoch is the time a Fake made by NewFake(time.Time{}) starts at.
var Epoch = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// Fake is a manually driven [clock.Clock]. It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	seq     uint64 // orders timers with the same deadline by creation
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced whenever timers change
}

var _ clock.Clock = (*Fake)(nil)

// NewFake returns a fake clock that reads start, or [Epoch] if start is zero.
func NewFake(start time.Time) *Fake {
	if start.IsZero() {
		start = Epoch
	}
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Since returns the fake time elapsed since t.
func (f *Fake) Since(t time.Time) time.Duration { return f.Now().Sub(t) }

// NewTimer returns a timer that fires once the fake time reaches now+d.
func (f *Fake) NewTimer(d time.Duration) clock.Timer {
	return f.add(d, make(chan time.Time, 1), nil)
}

// AfterFunc arranges for fn to run once the fake time reaches now+d. Unlike
// the real clock, the fake calls fn synchronously, inside the Advance or Set
// that reaches the deadline, so its effects are visible when that call
// returns.
func (f *Fake) AfterFunc(d time.Duration, fn func()) clock.Timer {
	return f.add(d, nil, fn)
}

func (f *Fake) add(d time.Duration, c chan time.Time, fn func()) *fakeTimer {
	f.mu.Lock()
	t := &fakeTimer{f: f, at: f.now.Add(d), seq: f.seq, c: c, fn: fn}
	f.seq++
	f.mu.Unlock()
	if d <= 0 {
		t.fire(t.at)
		return t
	}
	f.mu.Lock()
	f.timers = append(f.timers, t)
	f.notifyLocked()
	f.mu.Unlock()
	return t
}

// Advance moves the clock forward by d, firing every timer that falls due on
// the way. A negative d is treated as zero: fake time never runs backwards.
func (f *Fake) Advance(d time.Duration) {
	if d < 0 {
		d = 0
	}
	f.Set(f.Now().Add(d))
}

// Set moves the clock to t, firing every timer due by then. Setting a time
// before the current one leaves the clock where it is.
func (f *Fake) Set(t time.Time) {
	for {
		f.mu.Lock()
		next := f.nextDueLocked(t)
		if next == nil {
			if t.After(f.now) {
				f.now = t
			}
			f.mu.Unlock()
			return
		}
		if next.at.After(f.now) {
			f.now = next.at
		}
		f.removeLocked(next)
		at := f.now
		f.mu.Unlock()
		next.fire(at)
	}
}

// WaitForTimers blocks until at least n timers are pending, or ctx is done.
// A test calls it to know that the code under test has started to wait
// (a retry sleeping between attempts, say) before it advances the clock.
func (f *Fake) WaitForTimers(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		pending, changed := len(f.timers), f.changed
		f.mu.Unlock()
		if pending >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// Drive calls fn on another goroutine and, until fn returns, moves the
// clock forward whenever a goroutine waits on a timer of this clock made
// by NewTimer (a sleep: a retry's delay, say): to the deadline of the
// earliest such timer, firing every timer due on the way in order. Timers
// made by AfterFunc (a breaker's cool-down) fire when time passes them but
// never make time pass. Drive returns when fn does.
//
// Drive suits code that sleeps on one goroutine. When timers on several
// goroutines race with each other (a call abandoned by a timeout while a
// retry waits), which deadline comes first depends on the scheduler; test
// such code with testing/synctest instead.
func (f *Fake) Drive(fn func()) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer cancel()
		fn()
	}()
	for {
		f.mu.Lock()
		var next *fakeTimer
		for _, t := range f.timers {
			if t.c != nil && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		changed := f.changed
		f.mu.Unlock()
		if next != nil {
			f.Set(next.at)
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// nextDueLocked returns the earliest timer due at or before t.
func (f *Fake) nextDueLocked(t time.Time) *fakeTimer {
	var next *fakeTimer
	for _, tm := range f.timers {
		if tm.at.After(t) {
			continue
		}
		if next == nil || tm.at.Before(next.at) || (tm.at.Equal(next.at) && tm.seq < next.seq) {
			next = tm
		}
	}
	return next
}

func (f *Fake) removeLocked(t *fakeTimer) bool {
	for i, tm := range f.timers {
		if tm == t {
			f.timers = append(f.timers[:i], f.timers[i+1:]...)
			f.notifyLocked()
			return true
		}
	}
	return false
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Deadlines returns the times at which the pending timers will fire, earliest
// first (len of it is how many are pending). It helps a test assert what
// the code under test is waiting for.
func (f *Fake) Deadlines() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]time.Time, 0, len(f.timers))
	for _, t := range f.timers {
		out = append(out, t.at)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

type fakeTimer struct {
	f   *Fake
	at  time.Time
	seq uint64
	c   chan time.Time
	fn  func()
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	return t.f.removeLocked(t)
}

func (t *fakeTimer) fire(at time.Time) {
	if t.fn != nil {
		t.fn()
		return
	}
	select {
	case t.c <- at:
	default:
	}
}
