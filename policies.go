package breakwater

import (
	"context"
	"errors"
	"time"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
	"github.com/breakwater-go/breakwater/timeout"
)

// policyOf returns the Policy that p stands for in a stack: each built-in
// policy type is one layer (see Wrap), and a Policy of another package is
// itself.
func policyOf(p any) (Policy, error) {
	switch p := p.(type) {
	case *retry.Policy:
		return retryPolicy{p}, nil
	case *breaker.Breaker:
		return breakerPolicy{p}, nil
	case *timeout.Policy:
		return timeoutPolicy{p}, nil
	case *hedge.Policy:
		return hedgePolicy{p}, nil
	case *bulkhead.Bulkhead:
		return bulkheadPolicy{p}, nil
	case *ratelimit.Limiter:
		return rateLimitPolicy{p}, nil
	case *throttle.Throttle:
		return throttlePolicy{p}, nil
	case *adaptive.Limiter:
		return adaptivePolicy{p}, nil
	case Policy:
		return p, nil
	case nil:
		return nil, errors.New("it is nil")
	}
	return nil, errors.New("it is not a policy")
}

// The built-in policies: each is one case of layer, and nothing else.
type (
	retryPolicy     struct{ p *retry.Policy }
	breakerPolicy   struct{ b *breaker.Breaker }
	timeoutPolicy   struct{ p *timeout.Policy }
	bulkheadPolicy  struct{ b *bulkhead.Bulkhead }
	rateLimitPolicy struct{ l *ratelimit.Limiter }
	throttlePolicy  struct{ t *throttle.Throttle }
	adaptivePolicy  struct{ l *adaptive.Limiter }
	hedgePolicy     struct{ p *hedge.Policy }
)

// builtin is a built-in policy: Wrap builds it with layer, for the stack's
// result type, so that a call through it allocates nothing.
type builtin interface {
	Policy
	name() string
	usable() bool // false for a nil policy inside
}

// layer returns next wrapped in the built-in policy p, for results of
// type T; gate, when not nil, is what a retry or hedge asks.
func layer[T any](p builtin, next func(context.Context) (T, error), r *Results[T], gate func() (time.Duration, error)) func(context.Context) (T, error) {
	switch p := p.(type) {
	case retryPolicy:
		opts := retry.Options[T]{Gate: gate, Drop: r.Drop}
		return func(ctx context.Context) (T, error) { return retry.ExecuteWith(ctx, p.p, opts, next) }
	case breakerPolicy:
		return func(ctx context.Context) (v T, err error) {
			err = p.b.Do(ctx, func(ctx context.Context) error { v, err = next(ctx); return err })
			return v, err
		}
	case bulkheadPolicy:
		return func(ctx context.Context) (v T, err error) {
			err = p.b.Do(ctx, func(ctx context.Context) error { v, err = next(ctx); return err })
			return v, err
		}
	case rateLimitPolicy:
		return func(ctx context.Context) (v T, err error) {
			err = p.l.Do(ctx, func(ctx context.Context) error { v, err = next(ctx); return err })
			return v, err
		}
	case throttlePolicy:
		return func(ctx context.Context) (v T, err error) {
			err = p.t.Do(ctx, func(ctx context.Context) error { v, err = next(ctx); return err })
			return v, err
		}
	case adaptivePolicy:
		return func(ctx context.Context) (v T, err error) {
			err = p.l.Do(ctx, func(ctx context.Context) error { v, err = next(ctx); return err })
			return v, err
		}
	case hedgePolicy:
		opts := hedge.Options[T]{Gate: gate, Drop: r.Drop, Keep: r.Keep}
		return func(ctx context.Context) (T, error) { return hedge.ExecuteWith(ctx, p.p, opts, next) }
	case timeoutPolicy:
		opts := timeout.Options[T]{Keep: r.Keep, Drop: r.Drop}
		return func(ctx context.Context) (T, error) { return timeout.ExecuteWith(ctx, p.p, opts, next) }
	}
	panic("breakwater: unknown built-in policy " + p.name())
}

// applyBuiltin is the Apply of every built-in policy, for a policy of
// another package that composes one by hand: the same layer, built for
// the result type of the call it runs.
func applyBuiltin(p builtin, next Next) Next {
	return func(ctx context.Context, c Call) error {
		if c.r == nil { // a call that carries no result
			_, err := layer(p, func(ctx context.Context) (struct{}, error) { return struct{}{}, next(ctx, c) }, &Results[struct{}]{}, nil)(ctx)
			return err
		}
		return c.r.run(ctx, c.gen, p, next)
	}
}

func (p retryPolicy) Apply(next Next) Next     { return applyBuiltin(p, next) }
func (p breakerPolicy) Apply(next Next) Next   { return applyBuiltin(p, next) }
func (p timeoutPolicy) Apply(next Next) Next   { return applyBuiltin(p, next) }
func (p bulkheadPolicy) Apply(next Next) Next  { return applyBuiltin(p, next) }
func (p rateLimitPolicy) Apply(next Next) Next { return applyBuiltin(p, next) }
func (p throttlePolicy) Apply(next Next) Next  { return applyBuiltin(p, next) }
func (p adaptivePolicy) Apply(next Next) Next  { return applyBuiltin(p, next) }
func (p hedgePolicy) Apply(next Next) Next     { return applyBuiltin(p, next) }

func (retryPolicy) name() string     { return "retry" }
func (breakerPolicy) name() string   { return "breaker" }
func (timeoutPolicy) name() string   { return "timeout" }
func (bulkheadPolicy) name() string  { return "bulkhead" }
func (rateLimitPolicy) name() string { return "rate limit" }
func (throttlePolicy) name() string  { return "throttle" }
func (adaptivePolicy) name() string  { return "adaptive limit" }
func (hedgePolicy) name() string     { return "hedge" }

func (p retryPolicy) usable() bool     { return p.p != nil }
func (p breakerPolicy) usable() bool   { return p.b != nil }
func (p timeoutPolicy) usable() bool   { return p.p != nil }
func (p bulkheadPolicy) usable() bool  { return p.b != nil }
func (p rateLimitPolicy) usable() bool { return p.l != nil }
func (p throttlePolicy) usable() bool  { return p.t != nil }
func (p adaptivePolicy) usable() bool  { return p.l != nil }
func (p hedgePolicy) usable() bool     { return p.p != nil }

// Gate reports whether the circuit would turn an attempt away now.
func (p breakerPolicy) Gate() (time.Duration, error) { return p.b.Gate() }

func (timeoutPolicy) transparent()   {}
func (bulkheadPolicy) transparent()  {}
func (rateLimitPolicy) transparent() {}
func (throttlePolicy) transparent()  {}
func (adaptivePolicy) transparent()  {}
