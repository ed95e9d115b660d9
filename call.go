package breakwater

import "sync"

// holder keeps the value of one run of a stack of result type T. Holders
// are pooled per stack: a stack with a policy of another package costs no
// allocation per call once warm.
type holder[T any] struct {
	v    T
	pool *holderPool[T]
}

type holderPool[T any] struct{ p sync.Pool }

func newHolderPool[T any]() *holderPool[T] {
	hp := &holderPool[T]{}
	hp.p.New = func() any { return &holder[T]{pool: hp} }
	return hp
}

func (hp *holderPool[T]) get() *holder[T] { return hp.p.Get().(*holder[T]) }

func (h *holder[T]) fork() result { return h.pool.get() }

func (h *holder[T]) adopt(from result) {
	if f, ok := from.(*holder[T]); ok {
		h.v = f.v
	}
}

func (h *holder[T]) release() {
	var zero T
	h.v = zero
	h.pool.p.Put(h)
}
