package ratelimit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/outcome"
)

// ErrLimited is matched (with errors.Is) by every error a limiter returns
// for a call it turned away: an *outcome.RejectedError, a rejection, whose
// After says when a token will be there (retry policies honour it). It is
// allocated only when the call is turned away.
var ErrLimited = errors.New("ratelimit: rate limited")

// Limiter is a token bucket. It is safe for concurrent use. Build one with
// New.
type Limiter struct {
	cfg      Config
	interval time.Duration // between tokens
	tau      time.Duration // how far ahead of now the schedule may run: (Burst-1) intervals
	origin   time.Time     // times are offsets from it

	// tat is the theoretical arrival time of the next call, as an offset
	// from origin: the bucket is full when tat <= now, and holds
	// (now + tau + interval - tat) / interval tokens otherwise.
	tat atomic.Int64

	allowed, rejected atomic.Uint64
	waiting           atomic.Int64 // callers waiting for their token

	mu    sync.Mutex      // guards given
	given []time.Duration // reservations given back (their ends) that tat has not yet come down past
}

// New returns a limiter described by cfg, or a *config.Error. Its bucket
// starts full.
func New(cfg Config) (*Limiter, error) {
	cfg, err := cfg.checked()
	if err != nil {
		return nil, err
	}
	return newLimiter(cfg), nil
}

func newLimiter(cfg Config) *Limiter {
	l := &Limiter{cfg: cfg, interval: cfg.interval(), origin: cfg.Clock.Now()}
	l.tau = time.Duration(cfg.Burst-1) * l.interval
	return l
}

// Name returns the limiter's name.
func (l *Limiter) Name() string { return l.cfg.Name }

func (l *Limiter) now() time.Duration { return l.cfg.Clock.Since(l.origin) }

// reserve takes a token if one is there by now+limit, and returns how long
// to wait for it and where the schedule ended after it (for giveBack);
// ok is false, and nothing is taken, when the wait would exceed limit.
// The clock is read again before a refusal: callers that read it later
// may have moved the schedule past a reading the caller was held up with
// (preempted, a GC pause), while the bucket has tokens now.
func (l *Limiter) reserve(now, limit time.Duration) (wait, end time.Duration, ok bool) {
	reread := false
	for {
		tat := l.tat.Load()
		start := max(time.Duration(tat), now)
		wait = start - now - l.tau
		if wait > limit {
			if !reread {
				reread, now = true, max(now, l.now())
				continue
			}
			return wait, 0, false
		}
		if l.tat.CompareAndSwap(tat, int64(start+l.interval)) {
			return max(wait, 0), start + l.interval, true
		}
	}
}

// giveBack returns the token of a reservation that ended at end and whose
// caller stopped waiting for it, as golang.org/x/time/rate does. The
// schedule steps back over it once every reservation made after it has
// been given back too: stepping back past a reservation still waiting
// would let a new call act at the same moment, over the rate.
func (l *Limiter) giveBack(end time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	// A given-back end that has passed can no longer be the schedule's:
	// drop it, so that the list stays as short as the waits abandoned.
	l.given = slices.DeleteFunc(l.given, func(e time.Duration) bool { return e <= now })
	l.given = append(l.given, end)
	for {
		tat := time.Duration(l.tat.Load())
		i := slices.Index(l.given, tat)
		if i < 0 {
			return
		}
		if l.tat.CompareAndSwap(int64(tat), int64(tat-l.interval)) {
			l.given = slices.Delete(l.given, i, i+1)
		}
	}
}

// Allow reports whether a call may go through now, taking a token if so.
func (l *Limiter) Allow() bool {
	_, _, ok := l.reserve(l.now(), 0)
	if ok {
		l.allowed.Add(1)
	} else {
		l.rejected.Add(1)
	}
	return ok
}

// Wait waits for a token, and returns nil once the call may go through.
// It returns an error matching ErrLimited at once, without taking a token,
// when the token would come after the context's deadline; the context's
// error if it ends while waiting, giving the token back to later callers.
func (l *Limiter) Wait(ctx context.Context) error {
	limit := time.Duration(1<<63 - 1)
	if d, ok := ctx.Deadline(); ok {
		limit = d.Sub(l.cfg.Clock.Now())
	}
	return l.wait(ctx, limit)
}

func (l *Limiter) wait(ctx context.Context, limit time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	wait, end, ok := l.reserve(l.now(), limit)
	if !ok {
		l.rejected.Add(1)
		err := &outcome.RejectedError{Err: ErrLimited, Name: l.cfg.Name, After: wait}
		if f := l.cfg.Hooks.OnReject; f != nil {
			f(ctx, RejectEvent{Name: l.cfg.Name, RetryIn: wait})
		}
		return err
	}
	if wait > 0 {
		l.waiting.Add(1)
		err := clock.Sleep(ctx, l.cfg.Clock, wait)
		l.waiting.Add(-1)
		if err != nil {
			l.giveBack(end)
			return err
		}
	}
	l.allowed.Add(1)
	return nil
}

// Do runs fn once a token is there, waiting for it at most MaxWait (and
// never past the context's deadline). It returns fn's error, or an error
// matching ErrLimited without calling fn.
func (l *Limiter) Do(ctx context.Context, fn func(context.Context) error) error {
	if err := l.admit(ctx); err != nil {
		return err
	}
	return fn(ctx)
}

func (l *Limiter) admit(ctx context.Context) error {
	limit := l.cfg.MaxWait
	if d, ok := ctx.Deadline(); ok && limit > 0 {
		limit = min(limit, d.Sub(l.cfg.Clock.Now()))
	}
	return l.wait(ctx, limit)
}

// tokens returns the tokens in the bucket now, in [0, Burst].
func (l *Limiter) tokens() float64 {
	now := l.now()
	ahead := max(time.Duration(l.tat.Load())-now, 0) // how far the schedule runs ahead
	return max(float64(l.tau+l.interval-ahead)/float64(l.interval), 0)
}

// full reports whether the bucket is full at now: the limiter is then no
// different from a new one.
func (l *Limiter) full(now time.Duration) bool { return time.Duration(l.tat.Load()) <= now }

// Metrics is a snapshot of a limiter. The counters only grow. Allowed
// counts the calls let through, Rejected those turned away; a wait its
// caller abandoned, its token given back, counts in neither.
type Metrics struct {
	Name     string
	Rate     float64
	Burst    int
	Tokens   float64
	Allowed  uint64
	Rejected uint64
}

// Metrics returns a snapshot of the limiter.
func (l *Limiter) Metrics() Metrics {
	return Metrics{Name: l.cfg.Name, Rate: l.cfg.Rate, Burst: l.cfg.Burst, Tokens: l.tokens(),
		Allowed: l.allowed.Load(), Rejected: l.rejected.Load()}
}
