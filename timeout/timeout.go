// Package timeout bounds how long a call may take.
//
// The call gets a context that is cancelled at the deadline. A call that
// honours its context returns then; one that ignores it is abandoned: the
// caller gets the timeout error at the deadline, and the call's result,
// whenever it comes, is dropped. The abandoned call keeps running until it
// returns on its own; no Go code can stop a goroutine from outside.
//
// Placed inside a retry policy, a timeout bounds each attempt; placed
// outside, it bounds the whole call, retries and delays included.
package timeout

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/config"
)

// ErrTimeout is matched by the error a policy returns when a call runs out
// of time. That error matches context.DeadlineExceeded too, so code that
// checks for the standard error keeps working.
var ErrTimeout = errors.New("timeout: call timed out")

// Config describes a timeout policy.
type Config struct {
	// Timeout is how long a call may take. It must be positive.
	Timeout time.Duration
	// Clock is the time source. Nil means clock.System.
	Clock clock.Clock
}

// Policy bounds the duration of calls. It is safe for concurrent use; one
// Policy can run calls of any result type.
type Policy struct {
	d     time.Duration
	clock clock.Clock
	err   *timeoutError // returned for every timeout: no allocation
}

// New returns a policy described by cfg, or a *config.Error.
func New(cfg Config) (*Policy, error) {
	if cfg.Timeout <= 0 {
		return nil, &config.Error{Package: "timeout", Field: "Timeout", Reason: "must be positive, got " + cfg.Timeout.String()}
	}
	return &Policy{d: cfg.Timeout, clock: clock.Or(cfg.Clock), err: &timeoutError{cfg.Timeout}}, nil
}

// timeoutError is the error of a call that timed out: it matches
// ErrTimeout and context.DeadlineExceeded, and says the time limit.
type timeoutError struct{ d time.Duration }

func (e *timeoutError) Error() string { return "timeout: call took longer than " + e.d.String() }

func (e *timeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// Do runs fn with p's time limit; see Execute.
func (p *Policy) Do(ctx context.Context, fn func(context.Context) error) error {
	_, err := Execute(ctx, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

// Execute runs fn on its own goroutine with a context that ends at the time
// limit, and returns its result, or, if fn has not returned by then, an
// error matching ErrTimeout and context.DeadlineExceeded that says the
// limit. If ctx ends first, Execute returns ctx's error.
// What fn does to its goroutine is done to the caller's, unless the call
// was already abandoned: a panic in fn is raised again, and
// runtime.Goexit in fn (as t.FailNow calls) ends the caller's goroutine
// too, running its deferred calls.
//
// fn's context ends when Execute returns: a result that is still read
// from afterwards (a response body, rows, a stream) needs ExecuteWith and
// Options.Keep.
func Execute[T any](ctx context.Context, p *Policy, fn func(context.Context) (T, error)) (T, error) {
	return ExecuteWith(ctx, p, Options[T]{}, fn)
}

// Options adjust ExecuteWith for results of type T.
type Options[T any] struct {
	// Keep, when set, keeps the call's context alive past the return of a
	// call that finished in time: it is given the call's result and error
	// and the function that ends that context, to call once the result is
	// used up (a response body closed), and returns the result to give the
	// caller. The time limit still ends the context. Without Keep, the
	// context ends when ExecuteWith returns.
	Keep func(v T, err error, release func()) T
	// Drop, when set, is given the result and error of a call that ran out
	// of time, once it returns: close a response's body. For a call
	// abandoned at the time limit it runs on the call's goroutine, where a
	// panic of Drop is recovered, having no caller to go to.
	Drop func(v T, err error)
}

// ExecuteWith runs fn through p, like Execute, adjusted by opts.
func ExecuteWith[T any](ctx context.Context, p *Policy, opts Options[T], fn func(context.Context) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	tctx, cancel := p.withTimeout(ctx)
	kept := false
	defer func() {
		if !kept {
			cancel()
		}
	}()

	type result struct {
		v      T
		err    error
		panic  any
		goexit bool // fn neither returned nor panicked
	}
	done := make(chan result, 1) // buffered: an abandoned call never blocks
	// handed is claimed once: by fn's goroutine when it hands its result
	// over, or by the caller when it abandons the call at the deadline.
	// The result of a call claimed as abandoned goes to opts.Drop.
	var handed atomic.Bool
	go func() {
		r := result{goexit: true}
		defer func() {
			if r.goexit || r.panic != nil || handed.CompareAndSwap(false, true) {
				done <- r
			} else if opts.Drop != nil {
				dropAbandoned(opts.Drop, r.v, r.err)
			}
		}()
		defer func() {
			if p := recover(); p != nil {
				r.panic, r.goexit = p, false
			}
		}()
		r.v, r.err = fn(tctx)
		r.goexit = false
	}()

	select {
	case r := <-done:
		switch {
		case r.panic != nil:
			panic(r.panic)
		case r.goexit:
			runtime.Goexit()
		}
		if r.err != nil && ctx.Err() == nil && context.Cause(tctx) == p.err {
			// The call gave up because of our deadline: the caller gets the
			// timeout, and what the call returned is dropped.
			if opts.Drop != nil {
				opts.Drop(r.v, r.err)
			}
			return zero, p.err
		}
		if opts.Keep != nil {
			r.v = opts.Keep(r.v, r.err, cancel) // if Keep panics, it kept nothing
			kept = true
		}
		return r.v, r.err
	case <-tctx.Done():
		if !handed.CompareAndSwap(false, true) && opts.Drop != nil {
			// fn returned meanwhile and handed its result over: the caller
			// gets the timeout, so the result is dropped.
			if r := <-done; r.panic == nil && !r.goexit {
				opts.Drop(r.v, r.err)
			}
		}
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		return zero, p.err
	}
}

// dropAbandoned gives drop the result of a call abandoned at the deadline,
// on the call's own goroutine: nobody is left to take a panic of drop
// there, so it is recovered rather than allowed to end the process.
func dropAbandoned[T any](drop func(T, error), v T, err error) {
	defer func() { _ = recover() }()
	drop(v, err)
}

// withTimeout returns a context that ends after p.d with cause p.err, by
// p's clock.
func (p *Policy) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if p.clock == clock.System {
		return context.WithTimeoutCause(ctx, p.d, p.err)
	}
	cctx, cancel := context.WithCancelCause(ctx)
	t := p.clock.AfterFunc(p.d, func() { cancel(p.err) })
	dctx := &deadlineContext{Context: cctx, deadline: p.clock.Now().Add(p.d), cause: p.err}
	return dctx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}

// deadlineContext is a context cancelled by a timer of a clock other than
// the system's. It reports that clock's deadline, and DeadlineExceeded once
// the timer has fired, as a context made by context.WithTimeout would.
type deadlineContext struct {
	context.Context
	deadline time.Time
	cause    error
}

func (c *deadlineContext) Deadline() (time.Time, bool) {
	if d, ok := c.Context.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *deadlineContext) Err() error {
	if err := c.Context.Err(); err != nil && context.Cause(c.Context) == c.cause {
		return context.DeadlineExceeded
	}
	return c.Context.Err()
}
