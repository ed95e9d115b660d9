package breakwater

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/breakwater-go/breakwater/fallback"
)

// Policy is a layer of a stack built by Wrap, Execute or Do that another
// package wrote, by implementing Apply (see the package doc, "Writing a
// policy"). The built-in policies need no Policy: a stack takes the
// values of the policy packages themselves (*retry.Policy,
// *breaker.Breaker, *timeout.Policy, *hedge.Policy, *bulkhead.Bulkhead,
// *ratelimit.Limiter, *throttle.Throttle, *adaptive.Limiter), which are
// not copied: one can serve any number of stacks, whatever their result
// types.
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

// PolicyFunc is a function that is a Policy: its Apply calls it.
type PolicyFunc func(next Next) Next

// Apply returns f(next).
func (f PolicyFunc) Apply(next Next) Next { return f(next) }

// Gater is implemented by a policy that can tell, before an attempt,
// whether it would turn the attempt away: Gate returns a nil rejection
// when it would let one through now; otherwise the error it turns
// attempts away with and how long until it lets one through (zero: not
// known). A retry or hedge policy asks the Gaters directly inside it, up
// to the first policy that is not one, before each wait: it does not
// sleep for an attempt that would be turned away at the end of its delay,
// and hedges nothing into an open circuit. A *breaker.Breaker is one; a
// timeout and the load-shedding policies let rejections through unchanged
// and never forecast one. A policy of your own that turns calls away may
// implement it too.
type Gater interface {
	Gate() (wait time.Duration, rejection error)
}

// Results is what a stack knows about its function's results of type T:
// give it to WrapWith. The zero Results knows nothing: a result with a
// nil error is a success, and every result is the caller's once returned.
// Each field applies to every policy of the stack at once.
type Results[T any] struct {
	// Failure, when set, is asked about every result that came with a nil
	// error, and returns the error it stands for, or nil for a success: a
	// response whose status says "try again". Every policy of the stack
	// sees that error as the attempt's: a retry policy retries it (unless
	// it is marked retry.Permanent), a breaker counts it by its rules, a
	// hedge policy keeps waiting for a better answer, Fallback may answer
	// it. When it is still the stack's error at the end, the caller gets
	// the result with a nil error, as from the function itself.
	Failure func(v T) error
	// Drop, when set, is given each result the stack does not return,
	// with its error: an attempt that is retried, a hedge that lost, an
	// attempt abandoned at its deadline (once it returns), a result the
	// fallback replaces. Close a response's body, release a connection.
	Drop func(v T, err error)
	// Keep, when set, keeps the attempt's context alive past the return of
	// the policy that made it (a timeout, a hedge), for a result read
	// after the call returns: it is given the result, its error and the
	// function that ends the context, and returns the result to give the
	// caller, which must call release once done with it (wrap a response
	// body so that closing it calls release). Without Keep, an attempt's
	// context ends when its policy returns, and a body read afterwards
	// fails with context.Canceled.
	Keep func(v T, err error, release func()) T
	// Fallback, when set, answers the stack's failures that it accepts:
	// it is the outermost layer, around every policy.
	Fallback *fallback.Policy[T]
}

// ErrInvalidPolicy is matched by the errors of Wrap, WrapWith, Execute and
// Do for a stack that cannot be built: a nil function, policy or policy
// func, or a policy without what it needs.
var ErrInvalidPolicy = errors.New("breakwater: invalid policy")

// Wrap returns fn under the policies, outermost first: Wrap(fn, a, b, c)
// runs a(b(c(fn))). The result is a function of fn's own shape, the
// decorator, and costs nothing to build per call: call it as often as you
// like, from any goroutine. Each policy is a value of a policy package (a
// *retry.Policy, a *breaker.Breaker; see Policy) or a Policy of your own;
// anything else, or a nil one, is an error matching ErrInvalidPolicy that
// names it.
//
// The order is the design. A recommended stack, outermost first:
//
//	Timeout (overall) → Retry → Breaker → Timeout (per attempt)
//
// with a Fallback around it all (see WrapWith). With Retry outside
// Breaker, the breaker sees every attempt, and retrying stops as soon as
// it opens: the retry policy does not sleep before an attempt the circuit
// would still reject at the end of the delay, and breaker.ErrOpen is not
// retried. With Breaker outside Retry, a whole retry sequence counts as
// one call: choose it when the breaker should judge what the caller
// experiences rather than every attempt, at the cost of reacting a retry
// sequence later.
func Wrap[T any](fn func(context.Context) (T, error), policies ...any) (func(context.Context) (T, error), error) {
	return WrapWith(fn, Results[T]{}, policies...)
}

// WrapWith is Wrap for a function whose results the stack must know about:
// a result that is a failure, a result to close when it is not returned
// (an HTTP response), a result read after the call returns, a fallback.
// The result type is named here once, for the whole stack.
func WrapWith[T any](fn func(context.Context) (T, error), results Results[T], policies ...any) (func(context.Context) (T, error), error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: the function is nil", ErrInvalidPolicy)
	}
	if fb := results.Fallback; fb != nil && fb.Answer == nil {
		return nil, fmt.Errorf("%w: Results.Fallback has no Answer", ErrInvalidPolicy)
	}
	s := stack[T]{typed: fn, results: &results}
	if results.Failure != nil {
		s.typed = failing(fn, results.Failure)
	}
	var gaters []Gater // the policies a retry or hedge layer would ask
	for i := len(policies) - 1; i >= 0; i-- {
		p, err := policyOf(policies[i])
		if err == nil {
			err = s.add(p, gaters)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: policy %d (%s): %v", ErrInvalidPolicy, i, describe(policies[i]), err)
		}
		switch p := p.(type) {
		case transparent:
		case Gater:
			gaters = append(gaters, p)
		default: // a retry answers for those inside it; others may change errors
			gaters = nil
		}
	}
	return s.outermost(), nil
}

// Compose returns the policies, outermost first, as one Policy: a
// stack without its function, for a policy of another package that runs
// built-in ones inside it, or a stack to name once and put in others. Its
// Apply is p[0].Apply(p[1].Apply(...(next))). Unlike Wrap, which sees the
// whole stack, Compose leaves each layer to itself: a retry in it does not
// ask a breaker in it whether the circuit would reject (see Gater).
func Compose(policies ...any) (Policy, error) {
	ps := make([]Policy, len(policies))
	for i, p := range policies {
		var err error
		if ps[i], err = policyOf(p); err == nil {
			err = check(ps[i])
		}
		if err != nil {
			return nil, fmt.Errorf("%w: policy %d (%s): %v", ErrInvalidPolicy, i, describe(p), err)
		}
	}
	return PolicyFunc(func(next Next) Next {
		for i := len(ps) - 1; i >= 0; i-- {
			next = ps[i].Apply(next)
		}
		return next
	}), nil
}

// transparent is implemented by the built-in policies that turn nothing
// away on behalf of what is inside them, and pass its errors on
// unchanged: a retry around them may ask the Gaters inside them.
type transparent interface{ transparent() }

// stack is a stack under construction, from the inside out: a typed
// function while its layers are built-in, a Next once a policy of another
// package wraps them.
type stack[T any] struct {
	typed   func(context.Context) (T, error)
	next    Next
	results *Results[T]
}

// add wraps the stack in p. gaters are the policies between p and the
// next retry or hedge layer inside it that can forecast a rejection.
func (s *stack[T]) add(p Policy, gaters []Gater) error {
	if err := check(p); err != nil {
		return err
	}
	if b, ok := p.(builtin); ok {
		s.typed, s.next = layer(b, s.function(), s.results, gate(gaters)), nil
		return nil
	}
	next, err := apply(p, s.erased())
	if err != nil {
		return err
	}
	s.typed, s.next = nil, next
	return nil
}

// apply returns p.Apply(next), or what makes it unusable: a nil result,
// or a panic (a nil pointer of a policy type whose Apply needs it).
func apply(p Policy, next Next) (wrapped Next, err error) {
	defer func() {
		if r := recover(); r != nil {
			wrapped, err = nil, fmt.Errorf("its Apply panicked: %v", r)
		}
	}()
	if wrapped = p.Apply(next); wrapped == nil {
		return nil, errors.New("its Apply returned nil")
	}
	return wrapped, nil
}

// check reports what makes p unusable.
func check(p Policy) error {
	switch p := p.(type) {
	case PolicyFunc:
		if p == nil {
			return errors.New("it is nil")
		}
	case builtin:
		if !p.usable() {
			return errors.New("it is nil")
		}
	}
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

// outermost returns the stack as the caller's function: the fallback
// around it, and a failed result given back as a result.
func (s *stack[T]) outermost() func(context.Context) (T, error) {
	fn, r := s.function(), s.results
	if r.Failure == nil && r.Fallback == nil {
		return fn
	}
	return func(ctx context.Context) (T, error) {
		v, err := fn(ctx)
		if err == nil {
			return v, nil
		}
		if fb := r.Fallback; fb != nil && ctx.Err() == nil && (fb.If == nil || fb.If(err)) {
			if r.Drop != nil {
				r.Drop(v, err)
			}
			return fb.Answer(ctx, err)
		}
		if isFailedResult(err) {
			return v, nil // the last answer is the answer
		}
		return v, err
	}
}

// failedResult is the error Results.Failure found in a result: every
// policy sees the error; the caller, at the end, the result.
type failedResult struct{ err error }

func (e *failedResult) Error() string { return e.err.Error() }
func (e *failedResult) Unwrap() error { return e.err }

// isFailedResult reports whether err's tree holds a failedResult. It
// walks the tree as errors.As does, without the allocation errors.As costs
// for its target: a rejection stays allocation-free.
func isFailedResult(err error) bool {
	for err != nil {
		switch e := err.(type) {
		case *failedResult:
			return true
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			for _, u := range e.Unwrap() {
				if isFailedResult(u) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// failing returns fn with the results failure finds failed turned into
// errors.
func failing[T any](fn func(context.Context) (T, error), failure func(T) error) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		v, err := fn(ctx)
		if err == nil {
			if ferr := failure(v); ferr != nil {
				return v, &failedResult{ferr}
			}
		}
		return v, err
	}
}

// describe names a policy in errors.
func describe(p any) string {
	if p == nil {
		return "nil"
	}
	if b, err := policyOf(p); err == nil {
		if b, ok := b.(builtin); ok {
			return b.name()
		}
	}
	return fmt.Sprintf("%T", p)
}

// gate returns a gate over gaters: it rejects while any of them does, for
// the longest known wait; nil without gaters.
func gate(gaters []Gater) func() (time.Duration, error) {
	switch len(gaters) {
	case 0:
		return nil
	case 1:
		return gaters[0].Gate
	}
	gaters = append([]Gater(nil), gaters...)
	return func() (wait time.Duration, rejection error) {
		for _, g := range gaters {
			w, r := g.Gate()
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
func Execute[T any](ctx context.Context, fn func(context.Context) (T, error), policies ...any) (T, error) {
	f, err := Wrap(fn, policies...)
	if err != nil {
		var zero T
		return zero, err
	}
	return f(ctx)
}

// Do runs fn once under the policies, outermost first; see Wrap.
func Do(ctx context.Context, fn func(context.Context) error, policies ...any) error {
	if fn == nil {
		return fmt.Errorf("%w: the function is nil", ErrInvalidPolicy)
	}
	_, err := Execute(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) }, policies...)
	return err
}
