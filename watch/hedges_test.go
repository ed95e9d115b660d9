package watch_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/watch"
)

// Hedging policies are reported per name: policies that share one summed,
// a policy added twice counted once, the longest delay.
func TestHedges(t *testing.T) {
	var l watch.List
	a, _ := hedge.New(hedge.Config{Name: "api", Delay: time.Hour})
	b, _ := hedge.New(hedge.Config{Name: "api", Delay: time.Minute})
	c, _ := hedge.New(hedge.Config{Name: "db\xff", Delay: time.Second})
	l.Add(a)
	l.Add(a)
	l.Add(b)
	l.Add(c)

	ctx := context.Background()
	_ = a.Do(ctx, func(context.Context) error { return nil })
	_ = b.Do(ctx, func(context.Context) error { return nil })
	permanent := errors.New("no")
	_ = c.Do(ctx, func(context.Context) error { return permanentError{permanent} })

	got := l.Report().Hedges
	want := []watch.Hedge{
		{Name: "api", Calls: 2, Delay: time.Hour},
		{Name: "db\uFFFD", Calls: 1, Delay: time.Second},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

type permanentError struct{ error }

func (permanentError) Permanent() bool { return true }
