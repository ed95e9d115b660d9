// Package fallback answers a failed call with a substitute result: a
// cached value, a default, or whatever a function of the error returns.
package fallback

import (
	"context"
	"errors"
)

// Policy substitutes a result for a failed call. It is the one policy that
// knows the result type T. A Policy must not be changed once in use.
type Policy[T any] struct {
	// Answer returns the substitute for a call that failed with err. It
	// must be set.
	Answer func(ctx context.Context, err error) (T, error)
	// If, when set, limits the fallback to the errors it accepts; others
	// are returned as they are. outcome.Rejected limits it to calls a policy
	// turned away (an open circuit).
	If func(err error) bool
}

// Value returns a policy that answers every failure with v.
func Value[T any](v T) *Policy[T] {
	return &Policy[T]{Answer: func(context.Context, error) (T, error) { return v, nil }}
}

// Func returns a policy that answers a failure with f's result.
func Func[T any](f func(ctx context.Context, err error) (T, error)) *Policy[T] {
	return &Policy[T]{Answer: f}
}

// When returns a copy of p limited to the failures cond accepts:
// fallback.Value(cached).When(outcome.Rejected).
func (p *Policy[T]) When(cond func(err error) bool) *Policy[T] {
	q := *p
	q.If = cond
	return &q
}

// ErrNoAnswer is returned by Execute for a Policy whose Answer is nil.
var ErrNoAnswer = errors.New("fallback: Policy.Answer is nil")

// Execute runs fn and, if it fails with an error p accepts, returns p's
// substitute instead. When ctx is done the caller has gone: the error is
// returned as it is.
func Execute[T any](ctx context.Context, p *Policy[T], fn func(context.Context) (T, error)) (T, error) {
	v, err := fn(ctx)
	if err == nil || ctx.Err() != nil || (p.If != nil && !p.If(err)) {
		return v, err
	}
	if p.Answer == nil {
		return v, errors.Join(ErrNoAnswer, err)
	}
	return p.Answer(ctx, err)
}
