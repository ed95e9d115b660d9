package breakwater

import (
	"context"
	"sync"
)

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
	run(ctx context.Context, gen uint64, p builtin, next Next) error
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

// holder keeps the value of one run of a stack of result type T. Holders
// are pooled per stack, so that a stack with a policy of another package
// costs no allocation per call once warm; a generation keeps a pooled
// holder from ever carrying one call's result into another.
//
// A run that a policy abandoned (a timeout of another package that stops
// waiting for next) may still write into its holder after its call has
// returned and the holder has gone back to the pool, or on to a later
// call. Each use of a holder is a generation: a Call names the generation
// it was given, and the holder takes a write, a read or a release only
// from a Call of its current generation. The abandoned run's Call is of a
// generation that has ended: what it writes is dropped.
type holder[T any] struct {
	mu   sync.Mutex
	gen  uint64
	v    T
	pool *holderPool[T]
}

type holderPool[T any] struct{ p sync.Pool }

func newHolderPool[T any]() *holderPool[T] {
	hp := &holderPool[T]{}
	hp.p.New = func() any { return &holder[T]{pool: hp} }
	return hp
}

// call takes a holder from the pool and returns a Call of its current
// generation.
func (hp *holderPool[T]) call() Call {
	h := hp.p.Get().(*holder[T])
	// Read without the lock: only the Call of the current generation
	// changes gen (by releasing), and the holder is this caller's alone
	// until then; stale Calls only read it.
	return Call{h, h.gen}
}

// get returns the value written in generation gen; the zero value if gen
// has ended.
func (h *holder[T]) get(gen uint64) T {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen != gen {
		var zero T
		return zero
	}
	return h.v
}

// set writes v in generation gen, unless it has ended.
func (h *holder[T]) set(gen uint64, v T) {
	h.mu.Lock()
	if h.gen == gen {
		h.v = v
	}
	h.mu.Unlock()
}

func (h *holder[T]) fork() Call { return h.pool.call() }

// run runs the built-in policy p over next in generation gen: p's layer
// for T, with the result kept in h.
func (h *holder[T]) run(ctx context.Context, gen uint64, p builtin, next Next) error {
	c := Call{h, gen}
	v, err := layer(p, func(ctx context.Context) (T, error) {
		err := next(ctx, c)
		return h.get(gen), err
	}, &Results[T]{}, nil)(ctx)
	h.set(gen, v)
	return err
}

func (h *holder[T]) adopt(gen uint64, from Call) {
	if f, ok := from.r.(*holder[T]); ok {
		h.set(gen, f.get(from.gen))
	}
}

// release ends generation gen and puts the holder back in the pool; a
// release of an ended generation does nothing.
func (h *holder[T]) release(gen uint64) {
	h.mu.Lock()
	if h.gen != gen {
		h.mu.Unlock()
		return
	}
	h.end()
	h.mu.Unlock()
	h.pool.p.Put(h)
}

// take returns the value of generation gen and releases the holder.
func (h *holder[T]) take(gen uint64) (v T) {
	h.mu.Lock()
	if h.gen != gen {
		h.mu.Unlock()
		return v
	}
	v = h.v
	h.end()
	h.mu.Unlock()
	h.pool.p.Put(h)
	return v
}

// end ends the current generation, emptying the holder. Callers hold mu.
func (h *holder[T]) end() {
	h.gen++
	var zero T
	h.v = zero
}
