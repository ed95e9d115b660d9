package bulkhead

import (
	"context"
	"errors"
	"testing"

	"github.com/breakwater-go/breakwater/config"
)

func TestRegistry(t *testing.T) {
	r, err := NewRegistry(Config{MaxConcurrent: 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	a := r.Get("a")
	if a != r.Get("a") || a.Name() != "a" {
		t.Fatal("Get does not keep one bulkhead per key, named by it")
	}
	permit, err := a.Allow(context.Background())
	if err != nil { // a is busy
		t.Fatal(err)
	}
	r.Get("b")
	r.Get("c") // evicts b, idle, not a
	if got := r.All(); len(got) != 2 || got[0] != a || got[1].Name() != "c" {
		t.Errorf("kept %v, want a (busy) and c", got)
	}
	permit.Done(nil)
	if _, err := NewRegistry(Config{}, -1); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("MaxKeys -1: err = %v", err)
	}
	if _, err := NewRegistry(Config{MaxConcurrent: -1}, 0); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("Defaults.MaxConcurrent -1: err = %v", err)
	}
}

// A key's bound holds under eviction pressure: while its bulkhead has a
// call in flight, other keys cannot evict it and get the key a second,
// empty bulkhead beside it.
func TestRegistryBoundHoldsUnderEvictionPressure(t *testing.T) {
	r, err := NewRegistry(Config{MaxConcurrent: 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	running := 0
	for i := range 5 {
		if _, err := r.Get("hot").Allow(context.Background()); err == nil {
			running++ // and never released: the call is still in flight
		}
		// Other keys, busy too: every bulkhead has a call in flight.
		if _, err := r.Get("other" + string(rune('a'+i))).Allow(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if running != 1 {
		t.Errorf("%d calls to one key ran at once under MaxConcurrent 1", running)
	}
	if len(r.All()) != 6 {
		t.Errorf("Len = %d, want 6: every key has a call in flight", len(r.All()))
	}
}
