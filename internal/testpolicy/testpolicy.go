// Package testpolicy holds policies written outside package breakwater, as
// any user's would be, for the tests that prove the open policy shape.
package testpolicy

import (
	"context"
	"errors"

	"github.com/breakwater-go/breakwater"
)

// ErrFull is returned by Cap when every slot is taken. It is a rejection:
// retry and fallback policies recognise it.
var ErrFull = &fullError{}

type fullError struct{}

func (*fullError) Error() string  { return "testpolicy: all slots taken" }
func (*fullError) Rejected() bool { return true }

// Cap lets at most n calls run the layers inside it at once, turning the
// others away with ErrFull.
func Cap(n int) breakwater.Policy {
	slots := make(chan struct{}, n)
	return breakwater.PolicyFunc(func(next breakwater.Next) breakwater.Next {
		return func(ctx context.Context, call breakwater.Call) error {
			select {
			case slots <- struct{}{}:
			default:
				return ErrFull
			}
			defer func() { <-slots }()
			return next(ctx, call)
		}
	})
}

// Race runs the layers inside it twice at once and keeps the first run
// that succeeds, cancelling the other; it fails only if both fail, with
// the first error. It proves that next may run concurrently.
func Race() breakwater.Policy {
	return breakwater.PolicyFunc(func(next breakwater.Next) breakwater.Next {
		return func(ctx context.Context, call breakwater.Call) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			type outcome struct {
				run breakwater.Call
				err error
			}
			done := make(chan outcome, 2)
			for range 2 {
				run := call.Fork()
				go func() { done <- outcome{run, next(ctx, run)} }()
			}
			var errs []error
			won := false
			for range 2 {
				o := <-done
				if o.err == nil && !won {
					won = true
					call.Adopt(o.run)
					cancel() // the other run is not needed
				} else if o.err != nil {
					errs = append(errs, o.err)
				}
				o.run.Release() // it has returned
			}
			if won {
				return nil
			}
			return errors.Join(errs...)
		}
	})
}
