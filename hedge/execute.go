package hedge

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/attempt"
	"github.com/breakwater-go/breakwater/outcome"
)

// Options adjust one use of a policy.
type Options[T any] struct {
	// Drop, when set, is given the result of each attempt that lost, once
	// it has returned, and of each failed attempt another followed: close
	// a response's body, release a connection.
	Drop func(v T, err error)
	// Gate, when set, is asked before each hedge instead of Config.Gate.
	Gate func() (wait time.Duration, rejection error)
	// Keep, when set, keeps the winning attempt's context alive past the
	// call: it is given the winner's result and error and the function
	// that ends that context, to call once the result is used up (a
	// response body read to its end), and returns the result to give the
	// caller. Without it, the winner's context ends when the call returns.
	Keep func(v T, err error, release func()) T
}

// Do runs fn, hedged as the policy says, and returns the winning
// attempt's error. fn must honour its context: the attempts that lose are
// cancelled through it.
func (p *Policy) Do(ctx context.Context, fn func(context.Context) error) error {
	_, err := Execute(ctx, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

// Execute runs fn through p, like Policy.Do, and returns the winning
// attempt's result.
func Execute[T any](ctx context.Context, p *Policy, fn func(context.Context) (T, error)) (T, error) {
	return ExecuteWith(ctx, p, Options[T]{}, fn)
}

// result is what an attempt returned, or its panic.
type result[T any] struct {
	n        int // the attempt, from 0 (the first call)
	v        T
	err      error
	panicked any
	stack    []byte
}

// ExecuteWith runs fn through p, like Execute, adjusted by opts.
//
// Each attempt runs on a goroutine of its own, with a context of its own
// derived from ctx. The call returns as soon as an attempt wins; the
// others are cancelled then, and each ends on its own goroutine, its
// result given to opts.Drop. An attempt that panics ends the call: the
// others are cancelled and the panic goes on on the caller's goroutine.
func ExecuteWith[T any](ctx context.Context, p *Policy, opts Options[T], fn func(context.Context) (T, error)) (T, error) {
	p.metrics.calls.Add(1)
	p.deposit()
	gate := opts.Gate
	if gate == nil {
		gate = p.cfg.Gate
	}
	start := p.cfg.Clock.Now()
	results := make(chan result[T], p.cfg.MaxHedges+1) // never blocks an attempt
	cancels := make([]context.CancelFunc, 0, p.cfg.MaxHedges+1)
	launch := func(n int) {
		actx, cancel := context.WithCancel(ctx)
		cancels = append(cancels, cancel)
		if n > 0 {
			actx = attempt.With(actx, attempt.Info{Number: n + 1, Kind: attempt.Hedge})
		}
		go func() {
			o := result[T]{n: n, panicked: errNoReturn}
			defer func() {
				if o.panicked != nil {
					o.panicked = recover()
					if o.panicked == nil { // runtime.Goexit
						o.panicked = errNoReturn
					}
					o.stack = debug.Stack()
				}
				results <- o
			}()
			o.v, o.err = fn(actx)
			o.panicked = nil
		}()
	}
	launch(0)
	running, started := 1, 1
	var last result[T]
	settled := false // the attempts that lost are cancelled and drained
	settle := func(keep int) {
		settled = true
		for i, cancel := range cancels {
			if i != keep {
				cancel()
			}
		}
		if running > 0 {
			p.metrics.cancelled.Add(uint64(running))
			go drain(results, running, opts.Drop, &p.metrics.dropPanics)
		}
	}
	defer func() {
		if !settled { // a hook or Drop panicked: no attempt may outlive the call
			settle(-1)
		}
	}()
	timer := p.cfg.Clock.NewTimer(p.delayFor(1))
	defer func() { timer.Stop() }()
	hedge := func() bool { // starts the next hedge if it may
		if started > p.cfg.MaxHedges || !p.allow(gate) {
			return false
		}
		if f := p.cfg.Hooks.OnHedge; f != nil {
			f(ctx, HedgeEvent{Name: p.cfg.Name, Hedge: started, After: p.cfg.Clock.Since(start)})
		}
		p.metrics.hedges.Add(1)
		launch(started)
		started++
		running++
		return true
	}
	finish := func(winner result[T]) (T, error) {
		settle(winner.n)
		release := cancels[winner.n]
		if winner.panicked != nil {
			release()
			panic(fmt.Sprintf("%v [recovered from a hedged attempt]\n%s", winner.panicked, winner.stack))
		}
		if opts.Keep == nil {
			release()
		} else {
			defer func() {
				if r := recover(); r != nil {
					release() // Keep panicked: it kept nothing
					panic(r)
				}
			}()
			winner.v = opts.Keep(winner.v, winner.err, release)
		}
		if last.err != nil && last.n != winner.n && opts.Drop != nil {
			opts.Drop(last.v, last.err)
		}
		if winner.err == nil {
			p.recordSuccess()
			p.record(p.cfg.Clock.Since(start))
			if winner.n > 0 {
				p.metrics.won.Add(1)
				if f := p.cfg.Hooks.OnWin; f != nil {
					f(ctx, HedgeEvent{Name: p.cfg.Name, Hedge: winner.n, After: p.cfg.Clock.Since(start)})
				}
			}
		}
		return winner.v, winner.err
	}
	for {
		select {
		case o := <-results:
			running--
			if o.panicked == nil && outcome.Rejected(o.err) && (running > 0 || last.err != nil) {
				// A policy inside turned this attempt away before it reached
				// the dependency: as if it had never started. The attempts
				// still running, or the failure before it, decide the call.
				p.refund()
				p.metrics.rejected.Add(1)
				if running > 0 {
					continue
				}
				return finish(last)
			}
			if o.panicked != nil || o.err == nil || !p.retryable(ctx, o.err) {
				return finish(o)
			}
			p.recordFailure()
			// A failure that allows another attempt starts the next hedge
			// at once; the call waits for those still running.
			hedge()
			if last.err != nil && opts.Drop != nil {
				opts.Drop(last.v, last.err)
			}
			last = o
			if running > 0 {
				continue
			}
			return finish(o)
		case <-timer.C():
			if hedge() && started <= p.cfg.MaxHedges {
				timer = p.cfg.Clock.NewTimer(p.delayFor(started))
			}
		}
	}
}

// errNoReturn stands for an attempt that ended without returning.
var errNoReturn = fmt.Errorf("hedge: attempt ended without returning (runtime.Goexit)")

// drain waits for the n attempts still running after a winner and gives
// their results to drop. The call has returned: a drop that panics has no
// caller to take its panic, so it is recovered and counted
// (Metrics.DropPanics), and the others are still dropped.
func drain[T any](results <-chan result[T], n int, drop func(T, error), panics *atomic.Uint64) {
	for range n {
		o := <-results
		if drop != nil && o.panicked == nil {
			func() {
				defer func() {
					if recover() != nil {
						panics.Add(1)
					}
				}()
				drop(o.v, o.err)
			}()
		}
	}
}
