// Package adaptive is a concurrency limit that finds a dependency's
// capacity from its latency, after Netflix concurrency-limits' Gradient2:
// the limit on calls in flight grows while latency stays near its
// long-term baseline, and shrinks as soon as queueing shows as latency
// above it. A call over the limit is turned away at once.
//
// Each finished call is a sample of its round-trip time (rtt), averaged
// over windows of SampleWindow samples. At high rates one call in
// several (up to 64, a power of two) is timed, so that a window lasts at
// least 10 ms: timing a call costs two clock reads and a lock, and the
// calls in flight are counted exactly either way. The baseline is the mean of the
// first ten windows, then an exponential average over the last LongWindow
// windows; each window's gradient is
//
//	clamp(0.5, 1, Tolerance × baseline / rtt)
//
// and the limit moves to (1−Smoothing)·L + Smoothing·(L·gradient + Queue),
// within [MinLimit, MaxLimit]. While fewer than half the limit are in
// flight the limit is not the bottleneck, and it does not grow.
package adaptive

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/internal/slots"
	"github.com/breakwater-go/breakwater/internal/stripe"
	"github.com/breakwater-go/breakwater/outcome"
)

// Defaults applied to the zero fields of a Config: Gradient2's.
const (
	defaultInitialLimit = 20
	defaultMinLimit     = 1
	defaultMaxLimit     = 200
	defaultSmoothing    = 0.2
	defaultLongWindow   = 600
	defaultTolerance    = 1.5
	defaultQueue        = 4
	defaultSampleWindow = 10
)

// limitBound bounds the limits of a Config.
const limitBound = 1_000_000

// Config describes an adaptive limiter.
type Config struct {
	// Name identifies the limiter in errors, events and metrics.
	Name string
	// InitialLimit, MinLimit and MaxLimit bound the limit, in [1, 1e6].
	// Zero means 20, 1 and 200.
	InitialLimit, MinLimit, MaxLimit int
	// Smoothing is how much of each new estimate the limit takes, in
	// (0, 1]. Zero means 0.2.
	Smoothing float64
	// SampleWindow is the number of round trips averaged into one update
	// of the limit, in [1, 1e6]: one slow call among quick ones is noise,
	// not queueing. Zero means 10 (Netflix's windowed limit).
	SampleWindow int
	// LongWindow is the number of updates the latency baseline averages
	// over, in [1, 1e6]. Zero means 600.
	LongWindow int
	// Tolerance is how much latency above the baseline is taken as no
	// queueing, in [1, 10]. Zero means 1.5.
	Tolerance float64
	// Queue is added to the estimate at each sample: how far the limit
	// probes above what latency allows. Zero means 4; negative is invalid.
	Queue int
	// Clock times the calls. Nil means clock.System.
	Clock clock.Clock
	// Hooks are called when calls are turned away and the limit changes.
	Hooks Hooks
}

// Hooks are functions a limiter calls; each may be nil.
type Hooks struct {
	// OnReject is called, on the caller's goroutine, for each call turned
	// away.
	OnReject func(ctx context.Context, e RejectEvent)
	// OnLimitChange is called, on the goroutine of the call whose sample
	// moved it, when the limit (rounded down) changes.
	OnLimitChange func(LimitChange)
}

// RejectEvent describes a call turned away.
type RejectEvent struct {
	Name  string
	Limit int
}

// LimitChange describes a change of the limit.
type LimitChange struct {
	Name     string
	From, To int
}

func invalid(field, format string, args ...any) error {
	return &config.Error{Package: "adaptive", Field: field, Reason: fmt.Sprintf(format, args...)}
}

func (c Config) checked() (Config, error) {
	for _, f := range []struct {
		name string
		v    int
	}{{"InitialLimit", c.InitialLimit}, {"MinLimit", c.MinLimit}, {"MaxLimit", c.MaxLimit}, {"LongWindow", c.LongWindow}, {"SampleWindow", c.SampleWindow}, {"Queue", c.Queue}} {
		if f.v < 0 || f.v > limitBound {
			return c, invalid(f.name, "must be in [0, %d], got %d", limitBound, f.v)
		}
	}
	switch {
	case c.Smoothing != 0 && !(c.Smoothing > 0 && c.Smoothing <= 1):
		return c, invalid("Smoothing", "must be in (0, 1], got %v", c.Smoothing)
	case c.Tolerance != 0 && !(c.Tolerance >= 1 && c.Tolerance <= 10):
		return c, invalid("Tolerance", "must be in [1, 10], got %v", c.Tolerance)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MinLimit, defaultMinLimit)
	def(&c.MaxLimit, max(defaultMaxLimit, c.MinLimit))
	def(&c.InitialLimit, min(max(defaultInitialLimit, c.MinLimit), c.MaxLimit))
	def(&c.LongWindow, defaultLongWindow)
	def(&c.SampleWindow, defaultSampleWindow)
	def(&c.Queue, defaultQueue)
	if c.Smoothing == 0 {
		c.Smoothing = defaultSmoothing
	}
	if c.Tolerance == 0 {
		c.Tolerance = defaultTolerance
	}
	switch {
	case c.MaxLimit < c.MinLimit:
		return c, invalid("MaxLimit", "must not be below MinLimit (%d), got %d", c.MinLimit, c.MaxLimit)
	case c.InitialLimit < c.MinLimit || c.InitialLimit > c.MaxLimit:
		return c, invalid("InitialLimit", "must be in [MinLimit, MaxLimit] = [%d, %d], got %d", c.MinLimit, c.MaxLimit, c.InitialLimit)
	}
	c.Clock = clock.Or(c.Clock)
	return c, nil
}

// ErrLimited is matched (with errors.Is) by every error a limiter returns
// for a call it turned away: an *outcome.RejectedError, a rejection. One
// value is made per limiter, so rejecting allocates nothing.
var ErrLimited = errors.New("adaptive: over the concurrency limit")

// Limiter is an adaptive concurrency limit. It is safe for concurrent use.
// Build one with New.
type Limiter struct {
	cfg    Config
	err    *outcome.RejectedError
	origin time.Time

	slots slots.Slots  // the calls in flight, striped
	limit atomic.Int64 // the limit rounded down, read by every call
	// shrunk is set before the limit falls, and cleared once no stripe
	// holds more than its share: while it is set, an admission checks the
	// total in flight as well.
	shrunk atomic.Bool

	mu       sync.Mutex // guards the estimate
	estimate float64
	baseline float64 // the long-term average rtt, in ns; 0 before the first update
	updates  int     // windows averaged into the baseline, counted to warmUp
	// The window being gathered: its round trips' sum and count, and the
	// most calls in flight seen in it.
	windowRTT               float64
	windowN, windowInflight int64

	rejected atomic.Uint64

	// every is how many admitted calls one sampled call stands for, a
	// power of two in [1, maxEvery]: a call's round trip costs two clock
	// reads and the lock, and at tens of thousands of calls a second one
	// in several says as much. It doubles while a window fills in less
	// than minWindowSpan and halves while one takes more than
	// maxWindowSpan, so that windows last about as long at any rate.
	every       atomic.Uint64
	windowStart time.Duration // when the window's first sampled call started (guarded by mu)
}

// The bounds of sampling: see Limiter.every.
const (
	maxEvery      = 64
	minWindowSpan = 10 * time.Millisecond
	maxWindowSpan = 100 * time.Millisecond
)

// New returns a limiter described by cfg, or a *config.Error.
func New(cfg Config) (*Limiter, error) {
	cfg, err := cfg.checked()
	if err != nil {
		return nil, err
	}
	return newLimiter(cfg), nil
}

// newLimiter returns a limiter of a checked config.
func newLimiter(cfg Config) *Limiter {
	l := &Limiter{cfg: cfg, err: &outcome.RejectedError{Err: ErrLimited, Name: cfg.Name}, origin: cfg.Clock.Now(), estimate: float64(cfg.InitialLimit),
		slots: slots.New(int64(cfg.MaxLimit))}
	l.limit.Store(int64(cfg.InitialLimit))
	l.every.Store(1)
	return l
}

// Name returns the limiter's name.
func (l *Limiter) Name() string { return l.cfg.Name }

// current returns the current limit.
func (l *Limiter) current() int { return int(l.limit.Load()) }

// permit is what a call admitted by Allow or Do holds.
type permit struct {
	l        *Limiter
	start    time.Duration
	inflight int64 // sampled: the calls in flight when it was admitted, itself included
	stripe   int   // of the slot it holds
}

// Allow admits one call if fewer than the limit are in flight; otherwise
// it returns an error matching ErrLimited. End the Permit exactly once:
// Done samples the call's round-trip time as Do does, Release frees its
// slot without sampling it, for a call that says nothing about the
// dependency (never sent, cancelled by its caller).
func (l *Limiter) Allow(ctx context.Context) (outcome.Permit, error) {
	p, err := l.allow(ctx)
	if err != nil {
		return outcome.Permit{}, err
	}
	return outcome.Permit{Holder: (*holder)(l), Start: p.start, N: p.inflight<<8 | int64(p.stripe)}, nil
}

// holder settles the Permits a Limiter hands out.
type holder Limiter

// Done ends the call of a Permit from Allow and samples it.
func (h *holder) Done(start time.Duration, n int64, err error) { h.permit(start, n).done(err) }

// Release ends the call of a Permit from Allow without sampling it.
func (h *holder) Release(start time.Duration, n int64) { h.permit(start, n).release() }

// permit unpacks a Permit's numbers: when it started, and the calls in
// flight then and its slot's stripe, packed into n.
func (h *holder) permit(start time.Duration, n int64) permit {
	return permit{l: (*Limiter)(h), start: start, inflight: n >> 8, stripe: int(n & 0xff)}
}

func (l *Limiter) allow(ctx context.Context) (permit, error) {
	limit := l.limit.Load()
	i, ok := l.slots.Take(stripe.Index(8), limit)
	if ok && l.shrunk.Load() && l.slots.InFlight() > limit {
		l.slots.Free(i) // the limit fell, and stripes still hold more than their shares
		ok = false
	}
	if !ok {
		l.rejected.Add(1)
		if f := l.cfg.Hooks.OnReject; f != nil {
			f(ctx, RejectEvent{Name: l.cfg.Name, Limit: l.current()})
		}
		return permit{}, l.err
	}
	seq := l.slots.Count(i)
	// One call in every is timed, counted on the slot's own stripe: a
	// counter shared by every call would be a line the cores fight over.
	if seq&(l.every.Load()-1) != 0 {
		return permit{l: l, start: unsampled, stripe: i}, nil // counted in flight, not timed
	}
	return permit{l: l, start: l.cfg.Clock.Since(l.origin), inflight: l.slots.InFlight(), stripe: i}, nil
}

// done ends the call and samples its round-trip time, as Do's doc says;
// err is the call's error, or nil.
func (p permit) done(err error) {
	l := p.l
	if p.start == unsampled || err != nil && ignored(err) {
		p.release()
		return
	}
	end := l.cfg.Clock.Since(l.origin)
	l.slots.Free(p.stripe)
	l.sample(p.start, end, p.inflight, err != nil)
}

// unsampled is the start of a permit whose call is not timed.
const unsampled = time.Duration(-1 << 63)

// release ends the call without sampling it.
func (p permit) release() { p.l.slots.Free(p.stripe) }

// sample adds one round-trip time to the window, and moves the limit by
// the window's average once it is full.
func (l *Limiter) sample(start, end time.Duration, inflight int64, failed bool) {
	c := &l.cfg
	rtt := float64(max(end-start, 1))
	l.mu.Lock()
	if failed {
		if l.baseline == 0 {
			l.mu.Unlock()
			return
		}
		rtt = max(rtt, l.baseline)
	}
	if l.windowN == 0 {
		l.windowStart = start
	}
	l.windowRTT += rtt
	l.windowN++
	l.windowInflight = max(l.windowInflight, inflight)
	if l.windowN < int64(c.SampleWindow) {
		l.mu.Unlock()
		return
	}
	rtt, inflight = l.windowRTT/float64(l.windowN), l.windowInflight
	l.windowRTT, l.windowN, l.windowInflight = 0, 0, 0
	switch every, span := l.every.Load(), end-l.windowStart; {
	case span < minWindowSpan && every < maxEvery:
		l.every.Store(every * 2)
	case span > maxWindowSpan && every > 1:
		l.every.Store(every / 2)
	}
	// The baseline is the plain mean of the first warmUp windows, then an
	// exponential average: one short first window (exponential service
	// times make them common) would otherwise read as queueing in every
	// window after it, and shrink the limit while the dependency idles.
	if l.updates++; l.updates <= warmUp {
		l.baseline += (rtt - l.baseline) / float64(l.updates)
	} else {
		l.baseline += (rtt - l.baseline) * 2 / float64(c.LongWindow+1)
	}
	// A baseline far above the present means the dependency got faster
	// for good: let it follow sooner.
	if l.baseline/rtt > 2 {
		l.baseline *= 0.95
	}
	from := int(l.estimate)
	if float64(inflight) >= l.estimate/2 { // otherwise the limit is not what holds calls back
		gradient := max(0.5, min(1, c.Tolerance*l.baseline/rtt))
		next := l.estimate*gradient + float64(c.Queue)
		l.estimate = l.estimate*(1-c.Smoothing) + next*c.Smoothing
		l.estimate = math.Min(math.Max(l.estimate, float64(c.MinLimit)), float64(c.MaxLimit))
	}
	to := int(l.estimate)
	l.setLimitLocked(int64(to))
	l.mu.Unlock()
	if to != from {
		if f := c.Hooks.OnLimitChange; f != nil {
			f(LimitChange{Name: c.Name, From: from, To: to})
		}
	}
}

// setLimitLocked puts limit in force. Callers hold l.mu.
func (l *Limiter) setLimitLocked(limit int64) {
	if limit < l.limit.Load() {
		l.shrunk.Store(true) // before the lower limit can be read
	}
	l.limit.Store(limit)
	if l.shrunk.Load() && l.slots.Within(limit) {
		l.shrunk.Store(false)
	}
}

// Do runs fn if the limit lets it, and samples its round-trip time. It
// returns fn's error, or an error matching ErrLimited without calling fn.
// A call that panics is not sampled, and the panic goes on.
//
// A call that failed is sampled too, but only as slow: a dependency that
// fails slowly is as loaded as one that answers slowly, while one that
// fails fast (refusing, or down) says nothing of how long its answers
// take, and must not teach the limiter that 100 µs is normal. A failure is
// sampled as no faster than the baseline, and not at all before there is
// one. A call that says nothing of the dependency (an error that is a
// policy's rejection or marked outcome.Ignored, or its caller's
// context.Canceled) frees its slot unsampled.
func (l *Limiter) Do(ctx context.Context, fn func(context.Context) error) error {
	p, err := l.allow(ctx)
	if err != nil {
		return err
	}
	err = errPanicking
	defer func() { p.finish(ctx, err) }()
	err = fn(ctx)
	return err
}

// warmUp is the number of windows whose plain mean starts the baseline, as
// Gradient2's long-term measurement warms up over its first ten samples.
const warmUp = 10

// errPanicking marks, in Do, a call that has not returned.
var errPanicking = errors.New("adaptive: call did not return")

// finish ends a call of Do: a call that panicked, that its caller
// cancelled, that a policy inside the limiter turned away, or that an
// integration marked outcome.Ignored says nothing of the dependency.
func (p permit) finish(ctx context.Context, err error) {
	if err != nil && (err == errPanicking || errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		p.release()
		return
	}
	p.done(err)
}

// Metrics is a snapshot of a limiter.
type Metrics struct {
	Name     string
	Limit    int
	InFlight int
	// Baseline is the long-term average round-trip time.
	Baseline time.Duration
	// Admitted and Rejected only grow.
	Admitted, Rejected uint64
}

// Metrics returns a snapshot of the limiter.
func (l *Limiter) Metrics() Metrics {
	l.mu.Lock()
	baseline := time.Duration(l.baseline)
	l.mu.Unlock()
	return Metrics{Name: l.cfg.Name, Limit: l.current(), InFlight: int(l.slots.InFlight()), Baseline: baseline,
		Admitted: l.slots.Taken(), Rejected: l.rejected.Load()}
}

// ignored reports an error that says nothing of the dependency's latency.
func ignored(err error) bool {
	if o, ok := outcome.VerdictOf(err); ok {
		return o == outcome.Ignored
	}
	return outcome.Rejected(err)
}
