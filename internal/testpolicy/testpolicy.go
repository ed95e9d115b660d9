// Package testpolicy holds policies written outside package breakwater, as
// any user's would be, for the tests that prove the open policy shape.
package testpolicy

import (
	"context"
	"errors"
	"time"

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
// both errors. It proves that next may run concurrently. A run that panics
// goes on panicking on the caller's goroutine, unless the other run won.
func Race() breakwater.Policy {
	return breakwater.PolicyFunc(func(next breakwater.Next) breakwater.Next {
		return func(ctx context.Context, call breakwater.Call) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			done := make(chan outcome, 2)
			for range 2 {
				run := call.Fork()
				go func() { done <- runNext(ctx, next, run) }()
			}
			var errs []error
			var panicked any
			won := false
			for range 2 {
				o := <-done
				switch {
				case o.panicked != nil:
					panicked = o.panicked
				case o.err == nil && !won:
					won = true
					call.Adopt(o.run)
					cancel() // the other run is not needed
				case o.err != nil:
					errs = append(errs, o.err)
				}
				o.run.Release() // it has returned
			}
			switch {
			case won:
				return nil
			case panicked != nil:
				panic(panicked)
			}
			return errors.Join(errs...)
		}
	})
}

// ErrAbandoned is returned by Abandon for a run it stopped waiting for.
var ErrAbandoned = errors.New("testpolicy: stopped waiting")

// Abandon stops waiting for the layers inside it after d, as a timeout
// does, passing its call on as the package doc allows: the run it abandons
// is cancelled and goes on writing into the call, which must never reach
// another call. A panic in a run it still waits for goes on on the
// caller's goroutine.
func Abandon(d time.Duration) breakwater.Policy {
	return breakwater.PolicyFunc(func(next breakwater.Next) breakwater.Next {
		return func(ctx context.Context, call breakwater.Call) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			done := make(chan outcome, 1)
			go func() { done <- runNext(ctx, next, call) }()
			timer := time.NewTimer(d)
			defer timer.Stop()
			select {
			case o := <-done:
				if o.panicked != nil {
					panic(o.panicked)
				}
				return o.err
			case <-timer.C:
				return ErrAbandoned
			}
		}
	})
}

// outcome is how one run of next ended.
type outcome struct {
	run      breakwater.Call
	err      error
	panicked any
}

// runNext runs next with run, turning a panic (or runtime.Goexit) into an
// outcome: on a goroutine of its own, a panic would end the process.
func runNext(ctx context.Context, next breakwater.Next, run breakwater.Call) (o outcome) {
	o = outcome{run: run, panicked: "runtime.Goexit"}
	defer func() {
		if o.panicked != nil {
			o.panicked = recover()
			if o.panicked == nil {
				o.panicked = "runtime.Goexit"
			}
		}
	}()
	o.err = next(ctx, run)
	o.panicked = nil
	return o
}
