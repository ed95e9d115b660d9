package breakwater

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/fallback"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
	"github.com/breakwater-go/breakwater/timeout"
)

// Policy is one layer of a stack built by Wrap, Execute or Do. Retry,
// Breaker, Timeout and Fallback make the built-in ones; any package can
// write its own by implementing Apply (see the package doc, "Writing a
// policy"). The policy values inside (a *breaker.Breaker, a *retry.Policy,
// ...) are not copied: one can serve any number of stacks, whatever their
// result types.
type Policy interface {
	// Apply returns next wrapped in the policy. Wrap calls it once per
	// stack; the function it returns runs for every call, on any number of
	// goroutines at once.
	Apply(next Next) Next
}

// Next runs the layers inside a policy once: the policies between it and
// the protected function, then the function. It returns their error; their
// result travels in call, which a policy passes on untouched. A policy may
// run next any number of times: one after another with the same call (the
// stack's result is that of the last run), or several at once (hedging),
// each with its own call.Fork(), adopting the winner's with call.Adopt.
type Next func(ctx context.Context, call Call) error

// Call carries the result of one run of the layers inside a policy, whose
// type only the stack knows. The zero Call carries nothing. Once the call
// it belongs to has returned (or, for a Fork, once it is released), a run
// still writing into it writes nothing: a policy may abandon a run of next
// that goes on with the Call it was given.
type Call struct {
	r   result
	gen uint64 // the holder's use this Call belongs to
}

// result is a stack's holder of one run's value.
type result interface {
	fork() Call
	adopt(gen uint64, from Call)
	release(gen uint64)
}

// Fork returns a fresh call for a run of next alongside others. Release it
// once that run has returned and its result is adopted or dropped.
func (c Call) Fork() Call {
	if c.r == nil {
		return c
	}
	return c.r.fork()
}

// Adopt makes from's result this call's: the run that won.
func (c Call) Adopt(from Call) {
	if c.r != nil && from.r != nil {
		c.r.adopt(c.gen, from)
	}
}

// Release gives back a call made by Fork. Its holder takes nothing more
// from it: a run still writing into it writes nothing.
func (c Call) Release() {
	if c.r != nil {
		c.r.release(c.gen)
	}
}

// PolicyFunc is a function that is a Policy: its Apply calls it.
type PolicyFunc func(next Next) Next

// Apply returns f(next).
func (f PolicyFunc) Apply(next Next) Next { return f(next) }

// Retry retries the layers inside it.
func Retry(p *retry.Policy) Policy { return retryPolicy{p} }

// RetryWith retries the layers inside it, like Retry, adjusted by opts:
// results to retry (a response whose status means "try again"), results
// or errors that end the call at once. Its type parameter must be the
// stack's result type. When opts.Gate is nil, the stack sets it, as for
// Retry.
func RetryWith[T any](p *retry.Policy, opts retry.Options[T]) Policy {
	return retryWithPolicy[T]{p, opts}
}

// Breaker protects the layers inside it with a circuit breaker.
func Breaker(b *breaker.Breaker) Policy { return breakerPolicy{b} }

// BreakerWith protects the layers inside it with a circuit breaker, like
// Breaker, adjusted by opts: results that count as failures (a response
// whose status says the dependency is in trouble). Its type parameter must
// be the stack's result type.
func BreakerWith[T any](b *breaker.Breaker, opts breaker.Options[T]) Policy {
	return breakerWithPolicy[T]{b, opts}
}

// Bulkhead bounds the calls running the layers inside it at once.
func Bulkhead(b *bulkhead.Bulkhead) Policy { return bulkheadPolicy{b} }

// RateLimit bounds the rate of calls to the layers inside it.
func RateLimit(l *ratelimit.Limiter) Policy { return rateLimitPolicy{l} }

// Throttle refuses calls to the layers inside it locally, in proportion to
// how many of them the dependency refuses (adaptive throttling).
func Throttle(t *throttle.Throttle) Policy { return throttlePolicy{t} }

// AdaptiveLimit bounds the calls running the layers inside it at once by
// a limit found from their latency.
func AdaptiveLimit(l *adaptive.Limiter) Policy { return adaptivePolicy{l} }

// Hedge runs the layers inside it again, alongside, when they are slow to
// answer, and takes the first acceptable answer (see package hedge). The
// runs that lose are cancelled, their results dropped. When the policy has
// no Gate, the stack gives it the gate of the breakers directly inside it,
// so that it never hedges into an open circuit.
func Hedge(p *hedge.Policy) Policy { return hedgeWithPolicy[any]{p: p} }

// HedgeWith hedges the layers inside it, like Hedge, adjusted by opts: what
// to do with the losers' results (close a response), how to keep the
// winner's context alive. Its type parameter must be the stack's result
// type.
func HedgeWith[T any](p *hedge.Policy, opts hedge.Options[T]) Policy {
	return hedgeWithPolicy[T]{p, opts}
}

// Timeout bounds the time the layers inside it may take.
func Timeout(p *timeout.Policy) Policy { return timeoutPolicy{p} }

// Fallback substitutes a result when the layers inside it fail. Its type
// parameter must be the result type of the stack it is used in.
func Fallback[T any](p *fallback.Policy[T]) Policy { return fallbackPolicy[T]{p} }

// The built-in policies. Wrap builds them from each policy package's
// generic Execute, so a call through them allocates nothing; their Apply
// serves stacks that hold policies of other packages.
type (
	retryPolicy            struct{ p *retry.Policy }
	breakerPolicy          struct{ b *breaker.Breaker }
	timeoutPolicy          struct{ p *timeout.Policy }
	bulkheadPolicy         struct{ b *bulkhead.Bulkhead }
	rateLimitPolicy        struct{ l *ratelimit.Limiter }
	throttlePolicy         struct{ t *throttle.Throttle }
	adaptivePolicy         struct{ l *adaptive.Limiter }
	fallbackPolicy[T any]  struct{ p *fallback.Policy[T] }
	hedgeWithPolicy[T any] struct {
		p    *hedge.Policy
		opts hedge.Options[T]
	}
	retryWithPolicy[T any] struct {
		p    *retry.Policy
		opts retry.Options[T]
	}
	breakerWithPolicy[T any] struct {
		b    *breaker.Breaker
		opts breaker.Options[T]
	}
)

func (r retryPolicy) Apply(next Next) Next {
	return func(ctx context.Context, c Call) error {
		return r.p.Do(ctx, func(ctx context.Context) error { return next(ctx, c) })
	}
}

func (b breakerPolicy) Apply(next Next) Next {
	return func(ctx context.Context, c Call) error {
		return b.b.Do(ctx, func(ctx context.Context) error { return next(ctx, c) })
	}
}

func (b bulkheadPolicy) Apply(next Next) Next {
	return func(ctx context.Context, c Call) error {
		return b.b.Do(ctx, func(ctx context.Context) error { return next(ctx, c) })
	}
}

func (r rateLimitPolicy) Apply(next Next) Next {
	return func(ctx context.Context, c Call) error {
		return r.l.Do(ctx, func(ctx context.Context) error { return next(ctx, c) })
	}
}

func (t throttlePolicy) Apply(next Next) Next {
	return func(ctx context.Context, c Call) error {
		return t.t.Do(ctx, func(ctx context.Context) error { return next(ctx, c) })
	}
}

func (a adaptivePolicy) Apply(next Next) Next {
	return func(ctx context.Context, c Call) error {
		return a.l.Do(ctx, func(ctx context.Context) error { return next(ctx, c) })
	}
}

// Apply runs next in calls of their own, adopting the winner's result. In
// a stack with policies of other packages, opts.Drop still sees the
// losers' results; opts.Keep is not used.
func (h hedgeWithPolicy[T]) Apply(next Next) Next {
	opts := hedge.Options[Call]{Drop: func(run Call, err error) {
		if hd, ok := run.r.(*holder[T]); ok && h.opts.Drop != nil {
			h.opts.Drop(hd.get(run.gen), err)
		}
		run.Release()
	}}
	return func(ctx context.Context, c Call) error {
		run, err := hedge.ExecuteWith(ctx, h.p, opts, func(ctx context.Context) (Call, error) {
			run := c.Fork()
			return run, next(ctx, run)
		})
		c.Adopt(run)
		run.Release()
		return err
	}
}

func (t timeoutPolicy) Apply(next Next) Next {
	return func(ctx context.Context, c Call) error {
		// A run abandoned at the deadline keeps writing into a call of its
		// own, never into c.
		run := c.Fork()
		err := t.p.Do(ctx, func(ctx context.Context) error {
			err := next(ctx, run)
			return err
		})
		if !errors.Is(err, timeout.ErrTimeout) && ctx.Err() == nil {
			c.Adopt(run)
			run.Release()
		}
		return err
	}
}

func (f fallbackPolicy[T]) Apply(next Next) Next {
	return typedApply(next, func(ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
		return fallback.Execute(ctx, f.p, fn)
	})
}

func (r retryWithPolicy[T]) Apply(next Next) Next {
	return typedApply(next, func(ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
		return retry.ExecuteWith(ctx, r.p, r.opts, fn)
	})
}

func (b breakerWithPolicy[T]) Apply(next Next) Next {
	return typedApply(next, func(ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
		return breaker.ExecuteWith(ctx, b.b, b.opts, fn)
	})
}

// typedApply is the Apply of a policy that needs the result of type T:
// run runs a typed function under the policy, and the call's holder
// carries the value in and out. In a stack of another type, the policy
// sees T's zero value.
func typedApply[T any](next Next, run func(context.Context, func(context.Context) (T, error)) (T, error)) Next {
	return func(ctx context.Context, c Call) error {
		h, _ := c.r.(*holder[T])
		v, err := run(ctx, func(ctx context.Context) (T, error) {
			err := next(ctx, c)
			var v T
			if h != nil {
				v = h.get(c.gen)
			}
			return v, err
		})
		if h != nil {
			h.set(c.gen, v)
		}
		return err
	}
}

// resultType names the result type of a typed policy, for the error of a
// stack of another type.
func (f fallbackPolicy[T]) resultType() string    { return fmt.Sprintf("fallback for %T", *new(T)) }
func (r retryWithPolicy[T]) resultType() string   { return fmt.Sprintf("retry of %T", *new(T)) }
func (b breakerWithPolicy[T]) resultType() string { return fmt.Sprintf("breaker of %T", *new(T)) }
func (h hedgeWithPolicy[T]) resultType() string   { return fmt.Sprintf("hedge of %T", *new(T)) }

// ErrInvalidPolicy is matched by the errors of Wrap, Execute and Do for a
// stack that cannot be built: a nil function or policy, or a fallback of
// another result type.
var ErrInvalidPolicy = errors.New("breakwater: invalid policy")

// Wrap returns fn under the policies, outermost first: Wrap(fn, a, b, c)
// runs a(b(c(fn))). The result is a function of fn's own shape, the
// decorator, and costs nothing to build per call: call it as often as
// you like, from any goroutine.
//
// The order is the design. A recommended stack, outermost first:
//
//	Fallback → Timeout (overall) → Retry → Breaker → Timeout (per attempt)
//
// With Retry outside Breaker, the breaker sees every attempt, and retrying
// stops as soon as it opens: the retry policy does not sleep before an
// attempt the circuit would still reject at the end of the delay, and
// breaker.ErrOpen is not retried. With Breaker outside Retry, a whole
// retry sequence counts as one call: choose it when the breaker should
// judge what the caller experiences rather than every attempt, at the cost
// of reacting a retry sequence later.
func Wrap[T any](fn func(context.Context) (T, error), policies ...Policy) (func(context.Context) (T, error), error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: the function is nil", ErrInvalidPolicy)
	}
	s := stack[T]{typed: fn}
	var inner []*breaker.Breaker // the breakers a retry layer would retry into
	for i := len(policies) - 1; i >= 0; i-- {
		if err := s.add(policies[i], inner); err != nil {
			return nil, fmt.Errorf("%w: policy %d (%s): %v", ErrInvalidPolicy, i, describe(policies[i]), err)
		}
		switch p := policies[i].(type) {
		case breakerPolicy:
			inner = append(inner, p.b)
		case breakerWithPolicy[T]:
			inner = append(inner, p.b)
		case timeoutPolicy: // lets rejections through unchanged
		default: // a retry answers for those inside it; others may change errors
			inner = nil
		}
	}
	return s.function(), nil
}

// stack is a stack under construction, from the inside out: a typed
// function while its layers are built-in, a Next once a policy of another
// package wraps them.
type stack[T any] struct {
	typed func(context.Context) (T, error)
	next  Next
}

// add wraps the stack in p. inner are the breakers between p and the next
// retry layer inside it.
func (s *stack[T]) add(p Policy, inner []*breaker.Breaker) error {
	var f func(context.Context) (T, error)
	switch p := p.(type) {
	case nil:
		return errors.New("it is nil")
	case retryPolicy:
		if p.p == nil {
			return errors.New("it is nil")
		}
		next, opts := s.function(), retry.Options[T]{Gate: gate(inner)}
		f = func(ctx context.Context) (T, error) { return retry.ExecuteWith(ctx, p.p, opts, next) }
	case retryWithPolicy[T]:
		if p.p == nil {
			return errors.New("it is nil")
		}
		next, opts := s.function(), p.opts
		if opts.Gate == nil {
			opts.Gate = gate(inner)
		}
		f = func(ctx context.Context) (T, error) { return retry.ExecuteWith(ctx, p.p, opts, next) }
	case breakerWithPolicy[T]:
		if p.b == nil {
			return errors.New("it is nil")
		}
		next, opts := s.function(), p.opts
		f = func(ctx context.Context) (T, error) { return breaker.ExecuteWith(ctx, p.b, opts, next) }
	case breakerPolicy:
		if p.b == nil {
			return errors.New("it is nil")
		}
		next := s.function()
		f = func(ctx context.Context) (T, error) { return breaker.Execute(ctx, p.b, next) }
	case bulkheadPolicy:
		if p.b == nil {
			return errors.New("it is nil")
		}
		next := s.function()
		f = func(ctx context.Context) (T, error) { return bulkhead.Execute(ctx, p.b, next) }
	case rateLimitPolicy:
		if p.l == nil {
			return errors.New("it is nil")
		}
		next := s.function()
		f = func(ctx context.Context) (T, error) { return ratelimit.Execute(ctx, p.l, next) }
	case throttlePolicy:
		if p.t == nil {
			return errors.New("it is nil")
		}
		next := s.function()
		f = func(ctx context.Context) (T, error) { return throttle.Execute(ctx, p.t, next) }
	case adaptivePolicy:
		if p.l == nil {
			return errors.New("it is nil")
		}
		next := s.function()
		f = func(ctx context.Context) (T, error) { return adaptive.Execute(ctx, p.l, next) }
	case hedgeWithPolicy[T]:
		if p.p == nil {
			return errors.New("it is nil")
		}
		next, opts := s.function(), p.opts
		if opts.Gate == nil {
			opts.Gate = gate(inner)
		}
		f = func(ctx context.Context) (T, error) { return hedge.ExecuteWith(ctx, p.p, opts, next) }
	case hedgeWithPolicy[any]: // Hedge, in a stack of another type
		if p.p == nil {
			return errors.New("it is nil")
		}
		if p.opts.Drop != nil || p.opts.Keep != nil || p.opts.Gate != nil {
			// Options of results of type any cannot see a T: dropping them
			// silently would skip the caller's Drop (a body never closed).
			return fmt.Errorf("its options are for results of type any, and do not fit a call returning %T: use HedgeWith[%T]", *new(T), *new(T))
		}
		next, opts := s.function(), hedge.Options[T]{Gate: gate(inner)}
		f = func(ctx context.Context) (T, error) { return hedge.ExecuteWith(ctx, p.p, opts, next) }
	case timeoutPolicy:
		if p.p == nil {
			return errors.New("it is nil")
		}
		next := s.function()
		f = func(ctx context.Context) (T, error) { return timeout.Execute(ctx, p.p, next) }
	case fallbackPolicy[T]:
		if p.p == nil || p.p.Answer == nil {
			return errors.New("it is nil or incomplete")
		}
		next := s.function()
		f = func(ctx context.Context) (T, error) { return fallback.Execute(ctx, p.p, next) }
	case interface{ resultType() string }:
		return fmt.Errorf("does not fit a call returning %T", *new(T))
	case PolicyFunc:
		if p == nil {
			return errors.New("it is nil")
		}
		next := p(s.erased())
		if next == nil {
			return errors.New("its Apply returned nil")
		}
		s.typed, s.next = nil, next
		return nil
	default:
		next := p.Apply(s.erased())
		if next == nil {
			return errors.New("its Apply returned nil")
		}
		s.typed, s.next = nil, next
		return nil
	}
	s.typed, s.next = f, nil
	return nil
}

// function returns the stack as a typed function.
func (s *stack[T]) function() func(context.Context) (T, error) {
	if s.typed != nil {
		return s.typed
	}
	next, pool := s.next, newHolderPool[T]()
	return func(ctx context.Context) (T, error) {
		c := pool.call()
		err := next(ctx, c)
		return c.r.(*holder[T]).take(c.gen), err
	}
}

// erased returns the stack as a Next.
func (s *stack[T]) erased() Next {
	if s.next != nil {
		return s.next
	}
	fn := s.typed
	return func(ctx context.Context, c Call) error {
		v, err := fn(ctx)
		if h, ok := c.r.(*holder[T]); ok {
			h.set(c.gen, v)
		}
		return err
	}
}

// describe names a policy in errors.
func describe(p Policy) string {
	switch p := p.(type) {
	case retryPolicy:
		return "retry"
	case breakerPolicy:
		return "breaker"
	case timeoutPolicy:
		return "timeout"
	case bulkheadPolicy:
		return "bulkhead"
	case rateLimitPolicy:
		return "rate limit"
	case throttlePolicy:
		return "throttle"
	case adaptivePolicy:
		return "adaptive limit"
	case hedgeWithPolicy[any]:
		return "hedge"
	case nil:
		return "nil"
	case interface{ resultType() string }:
		return p.resultType()
	}
	return fmt.Sprintf("%T", p)
}

// gate returns a retry gate over breakers: it rejects while any of them
// does, for the longest known wait; nil without breakers.
func gate(breakers []*breaker.Breaker) func() (time.Duration, error) {
	switch len(breakers) {
	case 0:
		return nil
	case 1:
		return breakers[0].Gate
	}
	breakers = slices.Clone(breakers)
	return func() (wait time.Duration, rejection error) {
		for _, b := range breakers {
			w, r := b.Gate()
			switch {
			case r == nil:
			case w == 0: // no known end: nothing to wait for
				return 0, r
			case w > wait:
				wait, rejection = w, r
			}
		}
		return wait, rejection
	}
}

// Execute runs fn once under the policies, outermost first; see Wrap.
func Execute[T any](ctx context.Context, fn func(context.Context) (T, error), policies ...Policy) (T, error) {
	f, err := Wrap(fn, policies...)
	if err != nil {
		var zero T
		return zero, err
	}
	return f(ctx)
}

// Do runs fn once under the policies, outermost first; see Wrap.
func Do(ctx context.Context, fn func(context.Context) error, policies ...Policy) error {
	if fn == nil {
		return fmt.Errorf("%w: the function is nil", ErrInvalidPolicy)
	}
	_, err := Execute(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) }, policies...)
	return err
}
