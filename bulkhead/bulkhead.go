package bulkhead

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/internal/slots"
	"github.com/breakwater-go/breakwater/internal/stripe"
	"github.com/breakwater-go/breakwater/outcome"
)

// ErrFull is matched (with errors.Is) by every error a bulkhead returns
// for a call it turned away: an *outcome.RejectedError, a rejection. Two
// values are made per bulkhead, so rejecting allocates nothing.
var ErrFull = errors.New("bulkhead: full")

// errWaitedFull is the error of a call that waited in the queue for
// MaxWait: it matches ErrFull.
var errWaitedFull = fmt.Errorf("%w, no slot freed within the maximum wait", ErrFull)

// Bulkhead bounds the calls in flight. It is safe for concurrent use; one
// Bulkhead can run calls of any result type. Build one with New.
type Bulkhead struct {
	cfg            Config
	max            int64
	full, waitFull *outcome.RejectedError

	slots   slots.Slots
	waiting atomic.Int64 // callers in the queue, or about to be

	mu    sync.Mutex
	queue []*waiter // first come, first served

	admitted                      stripe.Counter
	rejected, timedOut, cancelled atomic.Uint64
}

// waiter is a queued call. ready is closed when a slot (of stripe slot)
// is handed to it.
type waiter struct {
	ready chan struct{}
	slot  int
}

// New returns a bulkhead described by cfg, or a *config.Error.
func New(cfg Config) (*Bulkhead, error) {
	cfg, err := cfg.checked()
	if err != nil {
		return nil, err
	}
	return newBulkhead(cfg), nil
}

// newBulkhead returns a bulkhead of a checked config.
func newBulkhead(cfg Config) *Bulkhead {
	return &Bulkhead{
		cfg: cfg, max: int64(cfg.MaxConcurrent), slots: slots.New(int64(cfg.MaxConcurrent)),
		full:     &outcome.RejectedError{Err: ErrFull, Name: cfg.Name},
		waitFull: &outcome.RejectedError{Err: errWaitedFull, Name: cfg.Name},
	}
}

// Name returns the bulkhead's name.
func (b *Bulkhead) Name() string { return b.cfg.Name }

// tryAcquire takes a slot if one is free and nobody is queued for it, and
// returns its stripe.
func (b *Bulkhead) tryAcquire(home int) (int, bool) {
	if b.waiting.Load() > 0 {
		return 0, false
	}
	return b.slots.Take(home, b.max)
}

// Allow takes a slot for one call, waiting in the queue if there is one:
// the first step of the two-step form, for code that cannot be put in a
// function. It returns a Permit once the call may run, or an error
// matching ErrFull, or the context's error if it ended while the call
// waited. The Permit holds the slot until its Done or Release (the same
// for a bulkhead: the call's error says nothing to it), called exactly
// once (use defer), frees it or hands it to the first call in the queue.
func (b *Bulkhead) Allow(ctx context.Context) (outcome.Permit, error) {
	slot, err := b.acquire(ctx)
	if err != nil {
		return outcome.Permit{}, err
	}
	return outcome.Permit{Holder: (*holder)(b), N: int64(slot)}, nil
}

// holder settles the Permits a Bulkhead hands out.
type holder Bulkhead

// Done frees the slot of a Permit from Allow.
func (h *holder) Done(_ time.Duration, slot int64, _ error) { (*Bulkhead)(h).release(int(slot)) }

// Release frees the slot of a Permit from Allow.
func (h *holder) Release(_ time.Duration, slot int64) { (*Bulkhead)(h).release(int(slot)) }

// acquire takes a slot for one call, and returns its stripe: Allow
// without the Permit.
func (b *Bulkhead) acquire(ctx context.Context) (int, error) {
	home := stripe.Index(8) // one stripe for this call's writes
	if slot, ok := b.tryAcquire(home); ok {
		b.admitted.AddAt(home, 1)
		return slot, nil
	}
	return b.acquireSlow(ctx, home)
}

func (b *Bulkhead) acquireSlow(ctx context.Context, home int) (int, error) {
	if err := ctx.Err(); err != nil {
		b.cancelled.Add(1)
		return 0, err
	}
	if b.cfg.MaxQueue == 0 {
		return 0, b.reject(ctx, b.full)
	}
	// MaxWait runs from the call's arrival: the timer is armed before the
	// call can be seen in the queue.
	var timeout <-chan struct{}
	if b.cfg.MaxWait > 0 {
		expired := make(chan struct{})
		t := b.cfg.Clock.AfterFunc(b.cfg.MaxWait, func() { close(expired) })
		defer t.Stop()
		timeout = expired
	}
	b.mu.Lock()
	if len(b.queue) >= b.cfg.MaxQueue {
		b.mu.Unlock()
		return 0, b.reject(ctx, b.full)
	}
	// Announced before the last look at the slots: a release that misses
	// the announcement has freed its slot before the look (the atomics are
	// sequentially consistent), and one that sees it hands its slot over.
	b.waiting.Add(1)
	if slot, ok := b.slots.Take(home, b.max); ok {
		b.waiting.Add(-1)
		b.mu.Unlock()
		b.admitted.Add(1)
		return slot, nil
	}
	w := &waiter{ready: make(chan struct{})}
	b.queue = append(b.queue, w)
	b.mu.Unlock()

	select {
	case <-w.ready:
		b.admitted.Add(1)
		return w.slot, nil
	case <-ctx.Done():
		if !b.leave(w) { // a slot was handed over as the caller gave up
			<-w.ready
			b.release(w.slot)
		}
		b.cancelled.Add(1)
		return 0, ctx.Err()
	case <-timeout:
		if b.leave(w) {
			b.timedOut.Add(1)
			return 0, b.reject(ctx, b.waitFull)
		}
	}
	// A slot was handed over as the wait ran out: take it.
	<-w.ready
	b.admitted.Add(1)
	return w.slot, nil
}

// leave takes w out of the queue; false if a slot was handed to it first.
func (b *Bulkhead) leave(w *waiter) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, q := range b.queue {
		if q == w {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			b.waiting.Add(-1)
			return true
		}
	}
	return false
}

func (b *Bulkhead) reject(ctx context.Context, err *outcome.RejectedError) error {
	b.rejected.Add(1)
	if f := b.cfg.Hooks.OnReject; f != nil {
		f(ctx, RejectEvent{Name: b.cfg.Name, Waited: err == b.waitFull})
	}
	return err
}

// release frees the slot (of stripe slot) of a call admitted by acquire,
// or hands it to the first call in the queue.
func (b *Bulkhead) release(slot int) {
	if b.waiting.Load() == 0 {
		b.free(slot)
		return
	}
	b.mu.Lock()
	if len(b.queue) > 0 {
		b.handLocked(slot) // the slot goes on to the first in line
	} else {
		b.slots.Free(slot)
	}
	b.mu.Unlock()
}

// free gives a slot back. A caller queued meanwhile may have looked at the
// slots before this one was freed: then a free slot is taken back for it.
func (b *Bulkhead) free(slot int) {
	b.slots.Free(slot)
	if b.waiting.Load() == 0 {
		return // the common case
	}
	b.mu.Lock()
	if len(b.queue) > 0 {
		if taken, ok := b.slots.Take(slot, b.max); ok {
			b.handLocked(taken)
		}
	}
	b.mu.Unlock()
}

// handLocked gives a slot (of stripe slot) already taken to the first
// caller in the queue. Callers hold b.mu and have checked the queue is not
// empty.
func (b *Bulkhead) handLocked(slot int) {
	w := b.queue[0]
	b.queue[0] = nil
	b.queue = b.queue[1:]
	b.waiting.Add(-1)
	w.slot = slot
	close(w.ready)
}

// Do runs fn if a slot is free (or frees up while it waits in the queue),
// and frees the slot when fn returns or panics. It returns fn's error, or
// an error matching ErrFull, or the context's error if it ended first.
func (b *Bulkhead) Do(ctx context.Context, fn func(context.Context) error) error {
	slot, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	defer b.release(slot)
	return fn(ctx)
}

// Metrics is a snapshot of a bulkhead. The counters only grow.
type Metrics struct {
	Name          string
	MaxConcurrent int
	InFlight      int // calls running now
	Queued        int // calls waiting now
	Admitted      uint64
	// Rejected counts the calls turned away: at once (the queue full) or
	// after MaxWait.
	Rejected uint64
	// TimedOut counts the calls among Rejected that waited MaxWait.
	TimedOut uint64
	// Cancelled counts the calls whose context ended before they had a
	// slot: while queued, or before they could queue.
	// Admitted + Rejected + Cancelled counts every call.
	Cancelled uint64
}

// Metrics returns a snapshot of the bulkhead.
func (b *Bulkhead) Metrics() Metrics {
	b.mu.Lock()
	queued := len(b.queue)
	b.mu.Unlock()
	return Metrics{
		Name: b.cfg.Name, MaxConcurrent: int(b.max),
		InFlight: int(b.slots.InFlight()), Queued: queued,
		Admitted: b.admitted.Load(), Rejected: b.rejected.Load(),
		TimedOut: b.timedOut.Load(), Cancelled: b.cancelled.Load(),
	}
}
