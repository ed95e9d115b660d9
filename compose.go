package breakwater

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/fallback"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/timeout"
)

// Policy is one layer of a stack built by Wrap, Execute or Do. Make one
// with Retry, Breaker, Timeout, Fallback or Around. The policy values
// inside (a *breaker.Breaker, a *retry.Policy, ...) are not copied: one can
// serve any number of stacks, whatever their result types.
type Policy struct {
	layer any    // *breaker.Breaker, *retry.Policy, ... or an aroundFunc
	desc  string // for errors: what kind of policy this is
}

// Retry retries the layers inside it.
func Retry(p *retry.Policy) Policy { return Policy{p, "retry"} }

// Breaker protects the layers inside it with a circuit breaker.
func Breaker(b *breaker.Breaker) Policy { return Policy{b, "breaker"} }

// Timeout bounds the time the layers inside it may take.
func Timeout(p *timeout.Policy) Policy { return Policy{p, "timeout"} }

// Fallback substitutes a result when the layers inside it fail. Its type
// parameter must be the result type of the stack it is used in.
func Fallback[T any](p *fallback.Policy[T]) Policy {
	return Policy{p, fmt.Sprintf("fallback for %T", *new(T))}
}

// Around makes a policy of a function that runs next (the layers inside)
// and returns its error, doing what it likes around it: a log line, a
// concurrency limit, a span. It must call next on its own goroutine and at
// most once at a time; the result of the stack is that of next's last run.
func Around(f func(ctx context.Context, next func(context.Context) error) error) Policy {
	return Policy{aroundFunc(f), "around"}
}

type aroundFunc func(ctx context.Context, next func(context.Context) error) error

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
// breaker.ErrOpen is not retried. With Breaker
// outside Retry, a whole retry sequence counts as one call: choose it when
// the breaker should judge what the caller experiences rather than every
// attempt, at the cost of reacting a retry sequence later.
func Wrap[T any](fn func(context.Context) (T, error), policies ...Policy) (func(context.Context) (T, error), error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: the function is nil", ErrInvalidPolicy)
	}
	f := fn
	var inner []*breaker.Breaker // the breakers a retry layer would retry into
	for i := len(policies) - 1; i >= 0; i-- {
		next, err := layer(policies[i], f, inner)
		if err != nil {
			return nil, fmt.Errorf("%w: policy %d (%s): %v", ErrInvalidPolicy, i, policies[i].desc, err)
		}
		f = next
		switch p := policies[i].layer.(type) {
		case *breaker.Breaker:
			inner = append(inner, p)
		case *timeout.Policy: // lets rejections through unchanged
		default: // a retry answers for those inside it; others may change errors
			inner = nil
		}
	}
	return f, nil
}

// layer returns next wrapped in policy p. inner are the breakers between
// p and the next retry layer inside it.
func layer[T any](p Policy, next func(context.Context) (T, error), inner []*breaker.Breaker) (func(context.Context) (T, error), error) {
	switch p := p.layer.(type) {
	case *retry.Policy:
		if p != nil {
			opts := retry.Options{Gate: gate(inner)}
			return func(ctx context.Context) (T, error) { return retry.ExecuteWith(ctx, p, opts, next) }, nil
		}
	case *breaker.Breaker:
		if p != nil {
			return func(ctx context.Context) (T, error) { return breaker.Execute(ctx, p, next) }, nil
		}
	case *timeout.Policy:
		if p != nil {
			return func(ctx context.Context) (T, error) { return timeout.Execute(ctx, p, next) }, nil
		}
	case *fallback.Policy[T]:
		if p != nil && p.Func != nil {
			return func(ctx context.Context) (T, error) { return fallback.Execute(ctx, p, next) }, nil
		}
	case aroundFunc:
		if p != nil {
			return func(ctx context.Context) (T, error) {
				var v T
				err := p(ctx, func(ctx context.Context) error {
					var err error
					v, err = next(ctx)
					return err
				})
				return v, err
			}, nil
		}
	case nil:
		return nil, errors.New("the zero Policy")
	default:
		return nil, fmt.Errorf("does not fit a call returning %T", *new(T))
	}
	return nil, errors.New("it is nil or incomplete")
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
