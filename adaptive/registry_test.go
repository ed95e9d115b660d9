package adaptive

import (
	"context"
	"errors"
	"testing"

	"github.com/breakwater-go/breakwater/config"
)

func TestRegistry(t *testing.T) {
	r, err := NewRegistry(Config{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	a := r.Get("a")
	if a != r.Get("a") || a.Name() != "a" {
		t.Fatal("Get does not keep one limiter per key, named by it")
	}
	p, err := a.Allow(context.Background()) // a is busy
	if err != nil {
		t.Fatal(err)
	}
	r.Get("b")
	r.Get("c") // evicts b, idle, not a
	if got := r.All(); len(got) != 2 || got[0] != a || got[1].Name() != "c" {
		t.Errorf("kept %v, want a (busy) and c", got)
	}
	p.Release()
	if _, err := NewRegistry(Config{}, 1_000_001); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("MaxKeys 1,000,001: err = %v", err)
	}
}
