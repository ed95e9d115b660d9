package throttle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
)

func TestRegistry(t *testing.T) {
	clk := clocktest.NewFake(time.Unix(0, 0))
	r, err := NewRegistry(Config{Clock: clk, Rand: func() float64 { return 0.999 }}, 2)
	if err != nil {
		t.Fatal(err)
	}
	a := r.Get("a")
	if a != r.Get("a") || a.Name() != "a" {
		t.Fatal("Get does not keep one throttle per key, named by it")
	}
	refused := errors.New("429")
	for range 10 { // a is refused until it throttles
		if p, err := a.Allow(context.Background()); err == nil {
			p.Done(refused)
		}
	}
	r.Get("b")
	r.Get("c") // evicts b, which refuses nothing, not a
	if got := r.All(); len(got) != 2 || got[0] != a || got[1].Name() != "c" {
		t.Errorf("kept %v, want a (throttling) and c", got)
	}
	if _, err := NewRegistry(Config{K: 0.5}, 0); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("Defaults.K 0.5: err = %v", err)
	}
}
