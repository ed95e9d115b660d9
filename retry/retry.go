package retry

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/attempt"
	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/internal/stripe"
	"github.com/breakwater-go/breakwater/outcome"
)

// Policy retries failing calls. It is safe for concurrent use, and one
// Policy can run calls of any result type. Build one with New.
type Policy struct {
	s settings

	calls                                 stripe.Counter
	retries, recovered, exhausted, denied atomic.Uint64
}

// New returns a policy described by cfg, or a *config.Error naming the
// first field of cfg that is out of range.
func New(cfg Config) (*Policy, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	return &Policy{s: s}, nil
}

// Name returns the policy's name.
func (p *Policy) Name() string { return p.s.Name }

// Do calls fn, and calls it again after a delay while it fails with a
// retryable error and the policy's limits allow. It returns nil once fn
// succeeds; fn's error unchanged if it is not retryable; or an *Error that
// wraps the reason retrying stopped and the last error. If ctx is already
// done, Do returns ctx.Err() without calling fn.
func (p *Policy) Do(ctx context.Context, fn func(context.Context) error) error {
	_, err := Execute(ctx, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

// Execute runs fn through p, like Policy.Do, and returns its result.
func Execute[T any](ctx context.Context, p *Policy, fn func(context.Context) (T, error)) (T, error) {
	return execute[T](ctx, p, nil, fn)
}

// Options adjust one call made with ExecuteWith, whose result type is T.
type Options[T any] struct {
	// Gate, when set, is asked before each wait whether the layers being
	// retried would let the next attempt through: it returns a nil
	// rejection when they would now; otherwise the error they turn
	// attempts away with and how long until they let one through (zero:
	// not known). When the attempt would still be turned away at the end
	// of the delay, the policy stops at once instead of sleeping for
	// nothing, and returns an *Error whose Cause is the rejection. A
	// breaker's Gate method has this shape; the composition in package
	// breakwater sets it for a retry policy around breakers.
	Gate func() (wait time.Duration, rejection error)
	// RetryResult, when set, is asked about every successful result; true
	// retries the call (a response whose status means "try again"). When
	// the attempts run out on such a result, it is returned with a nil
	// error.
	RetryResult func(result T) bool
	// AbortIf, when set, is asked after every attempt, with its result and
	// error; true stops the call at once and returns them as they are,
	// whatever the other rules say (failsafe-go's AbortIf): a response that
	// says retrying is pointless, an error past which nothing is worth
	// trying.
	AbortIf func(result T, err error) bool
	// Drop, when set, is given the result and error of each attempt that
	// is retried, before the next attempt starts: close a response's
	// body, release a connection. The result the call returns is never
	// dropped.
	Drop func(result T, err error)
}

// ExecuteWith runs fn through p, like Execute, adjusted by opts.
func ExecuteWith[T any](ctx context.Context, p *Policy, opts Options[T], fn func(context.Context) (T, error)) (T, error) {
	return execute(ctx, p, &opts, fn)
}

// retryResult reports whether the successful result v is to be retried.
func (o *Options[T]) retryResult(v T) bool {
	return o != nil && o.RetryResult != nil && o.RetryResult(v)
}

// drop hands the result of an attempt about to be retried to Drop.
func (o *Options[T]) drop(v T, err error) {
	if o != nil && o.Drop != nil {
		o.Drop(v, err)
	}
}

// abort reports whether the attempt that returned v and err ends the call.
func (o *Options[T]) abort(v T, err error) bool {
	return o != nil && o.AbortIf != nil && o.AbortIf(v, err)
}

func execute[T any](ctx context.Context, p *Policy, opts *Options[T], fn func(context.Context) (T, error)) (T, error) {
	p.calls.Add(1) // a call whose context has ended is a call too: the counters add up
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	var start time.Time
	if p.s.MaxElapsed > 0 {
		start = p.s.Clock.Now()
	}
	v, err := fn(ctx)
	if err == nil && !opts.retryResult(v) {
		if p.s.budget != nil {
			p.s.budget.RecordSuccess()
		}
		return v, nil
	}
	return retrying(ctx, p, opts, fn, start, v, err)
}

// retrying is Execute after a first attempt that failed (err != nil) or
// returned a result to retry (err == nil).
func retrying[T any](ctx context.Context, p *Policy, opts *Options[T], fn func(context.Context) (T, error), start time.Time, v T, err error) (T, error) {
	s := &p.s
	var prev time.Duration // the previous delay
	var history []error    // each attempt's error, for Error.Errors
	// n is the attempt that just ended.
	for n := 1; ; n++ {
		if opts.abort(v, err) || err != nil && !s.retryable(err) {
			return v, outcome.Unmark(err)
		}
		if s.budget != nil {
			s.budget.RecordFailure()
		}
		if err != nil {
			history = keep(history, outcome.Unmark(err))
		}

		d, cause := p.nextDelay(ctx, n, prev, start, err)
		if cause == nil && opts != nil && opts.Gate != nil {
			if wait, rejection := opts.Gate(); rejection != nil && (wait == 0 || wait > d) {
				cause = rejection // the next attempt would be turned away
			}
		}
		if cause == nil {
			if f := s.Hooks.OnRetry; f != nil {
				f(ctx, RetryEvent{Name: s.Name, Attempt: n, Err: err, Delay: d})
			}
			p.retries.Add(1)
			cause = clock.Sleep(ctx, s.Clock, d)
		}
		if cause != nil {
			p.exhausted.Add(1)
			if f := s.Hooks.OnGiveUp; f != nil {
				f(ctx, GiveUpEvent{Name: s.Name, Attempts: n, Cause: cause, Err: err})
			}
			if err == nil { // the result was retryable, but it is still a result
				return v, nil
			}
			return v, &Error{Attempts: n, Cause: cause, Err: outcome.Unmark(err), Errors: history}
		}

		prev = d
		opts.drop(v, err)
		v, err = fn(attempt.With(ctx, attempt.Info{Number: n + 1, Kind: attempt.Retry}))
		if err == nil && !opts.retryResult(v) {
			p.recovered.Add(1)
			if s.budget != nil {
				s.budget.RecordSuccess()
			}
			return v, nil
		}
	}
}

// nextDelay returns the delay before the retry that follows attempt, or
// the reason not to retry.
func (p *Policy) nextDelay(ctx context.Context, attempt int, prev time.Duration, start time.Time, err error) (time.Duration, error) {
	s := &p.s
	switch {
	case ctx.Err() != nil:
		return 0, context.Cause(ctx)
	case attempt >= s.MaxAttempts:
		return 0, ErrExhausted
	}
	var d time.Duration
	if hint, ok := outcome.RetryAfter(err); ok {
		d = hint
		if d < 0 { // the server said not to retry
			return 0, ErrExhausted
		}
		d = min(d, s.MaxRetryAfter)
	} else {
		d = s.backoff(attempt, prev, err)
	}
	deadline, hasDeadline := ctx.Deadline()
	if s.MaxElapsed > 0 || hasDeadline {
		// Compared as durations: a time plus a huge delay would overflow.
		now := s.Clock.Now()
		if s.MaxElapsed > 0 && d > s.MaxElapsed-now.Sub(start) {
			return 0, ErrMaxElapsed
		}
		if hasDeadline && d >= deadline.Sub(now) {
			return 0, context.DeadlineExceeded
		}
	}
	if s.budget != nil && !s.budget.AllowRetry() {
		p.denied.Add(1)
		return 0, ErrBudgetExhausted
	}
	return d, nil
}

// retryable reports whether err may be retried, in this order: a Permanent
// error is not; a Retryable one is; an error in DoNotRetryOn is not; one
// in RetryOn is; a rejection (an error with a Rejected() bool method that
// says true: an open circuit, a policy shedding load) is not, since
// retrying it at once only wastes attempts; RetryIf decides when set; any
// other error is retried unless RetryOn or RetryIf is set.
func (s *settings) retryable(err error) bool {
	if retry, marked := outcome.Retry(err); marked {
		return retry
	}
	for _, target := range s.DoNotRetryOn {
		if errors.Is(err, target) {
			return false
		}
	}
	for _, target := range s.RetryOn {
		if errors.Is(err, target) {
			return true
		}
	}
	if outcome.Rejected(err) {
		return false
	}
	if s.RetryIf != nil {
		return s.RetryIf(err)
	}
	return len(s.RetryOn) == 0
}

// Hooks are functions a policy calls; each may be nil. They run on the
// caller's goroutine, with the call's context.
type Hooks struct {
	// OnRetry is called before each retry's delay.
	OnRetry func(context.Context, RetryEvent)
	// OnGiveUp is called when a limit stops the retries: attempts, time,
	// budget, a rejection or the context.
	OnGiveUp func(context.Context, GiveUpEvent)
}

// RetryEvent describes a retry about to be made.
type RetryEvent struct {
	Name    string
	Attempt int   // the attempt that failed, 1 for the first
	Err     error // its error; nil if its result was retryable
	Delay   time.Duration
}

// GiveUpEvent describes a call whose retries were stopped by a limit.
type GiveUpEvent struct {
	Name     string
	Attempts int
	Cause    error // ErrExhausted, ErrMaxElapsed, ErrBudgetExhausted or the context's cause
	Err      error // the last attempt's error; nil if its result was retryable
}

// Delay returns the delay the policy waits before retry n (1 for the first
// retry), given the previous delay (zero before the first retry; it matters
// to JitterDecorrelated), when no server asked for one. It draws on the
// policy's random source, like a real retry.
func (p *Policy) Delay(n int, prev time.Duration) time.Duration {
	return p.s.backoff(max(n, 1), prev, nil)
}

// Budget returns the policy's retry budget, or nil without one.
func (p *Policy) Budget() *Budget { return p.s.budget }

// Metrics is a snapshot of a policy's counters, which only grow.
type Metrics struct {
	Name string
	// Calls is the number of calls run through the policy.
	Calls uint64
	// Retries is the number of retries made (attempts after the first).
	Retries uint64
	// SucceededAfterRetry is the number of calls that succeeded on a retry.
	SucceededAfterRetry uint64
	// Exhausted is the number of calls given up on because a limit was
	// reached: attempts, time, retry budget or context.
	Exhausted uint64
	// BudgetDenied is the number of retries the budget turned down.
	BudgetDenied uint64
	// BudgetTokens is the tokens left in the policy's budget; zero without
	// one.
	BudgetTokens float64
}

// Metrics returns a snapshot of the policy's counters.
func (p *Policy) Metrics() Metrics {
	m := Metrics{
		Name:                p.s.Name,
		Calls:               p.calls.Load(),
		Retries:             p.retries.Load(),
		SucceededAfterRetry: p.recovered.Load(),
		Exhausted:           p.exhausted.Load(),
		BudgetDenied:        p.denied.Load(),
	}
	if p.s.budget != nil {
		m.BudgetTokens = p.s.budget.tokens()
	}
	return m
}
