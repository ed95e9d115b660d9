package bulkhead_test

import (
	"context"
	"sync"

	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/outcome"
)

// held are the permits the tests took and have not given back, per
// bulkhead: acquire and release take and free slots one at a time.
var held struct {
	sync.Mutex
	m map[*bulkhead.Bulkhead][]outcome.Permit
}

func acquire(b *bulkhead.Bulkhead, ctx context.Context) error {
	p, err := b.Allow(ctx)
	if err == nil {
		held.Lock()
		if held.m == nil {
			held.m = map[*bulkhead.Bulkhead][]outcome.Permit{}
		}
		held.m[b] = append(held.m[b], p)
		held.Unlock()
	}
	return err
}

func release(b *bulkhead.Bulkhead) {
	held.Lock()
	ps := held.m[b]
	p := ps[len(ps)-1]
	held.m[b] = ps[:len(ps)-1]
	held.Unlock()
	p.Done(nil)
}
