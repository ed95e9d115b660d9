package watch_test

import (
	"context"
	"errors"
	"testing"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/watch"
)

// Breakers that share a name fold into one entry, a breaker watched twice
// counts once, and names are made valid UTF-8.
func TestReport(t *testing.T) {
	var l watch.List
	reg, _ := breaker.NewRegistry(breaker.Config{}, 0)
	a := reg.Get("api")
	b, _ := breaker.New(breaker.Config{Name: "api"})
	bad, _ := breaker.New(breaker.Config{Name: "x\xffy"})
	l.Add(reg)
	l.Add(a) // also in the registry: counted once
	l.Add(b)
	l.Add(bad)
	ctx := context.Background()
	_ = a.Do(ctx, func(context.Context) error { return nil })
	_ = b.Do(ctx, func(context.Context) error { return errors.New("x") })
	b.Trip()
	r1, _ := retry.New(retry.Config{Name: "r"})
	r2, _ := retry.New(retry.Config{Name: "r", NoBudget: true})
	l.Add(r1)
	l.Add(r2)

	r := l.Report()
	circuits, retries := r.Circuits, r.Retries
	if len(circuits) != 2 || circuits[0].Name != "api" || circuits[1].Name != "x\uFFFDy" {
		t.Fatalf("circuits %+v", circuits)
	}
	api := circuits[0]
	if api.Successes != 1 || api.Failures != 1 || api.InState[breaker.Closed] != 1 || api.InState[breaker.Open] != 1 || api.Trips != 1 {
		t.Fatalf("api %+v", api)
	}
	if len(retries) != 1 || retries[0].Name != "r" || retries[0].BudgetTokens != 0 {
		t.Fatalf("retries %+v: want one entry with the fewest tokens", retries)
	}
}

// A name's counters never go down when a registry evicts one of the
// breakers that share it: the evicted breaker's counts stay in the sum
// while the name has others. (Before, calls fell from 1005 to 1001, which
// Prometheus reads as a reset.) When the name has none left, it goes.
func TestCountersSurviveEviction(t *testing.T) {
	a, _ := breaker.NewRegistry(breaker.Config{}, 1)
	b, _ := breaker.NewRegistry(breaker.Config{}, 1)
	var l watch.List
	l.Add(a)
	l.Add(b)
	ok := func(context.Context) error { return nil }
	for range 4 {
		a.Get("api.example").Do(context.Background(), ok)
	}
	b.Get("api.example").Do(context.Background(), ok)
	calls := func() uint64 {
		circuits := l.Report().Circuits
		for _, c := range circuits {
			if c.Name == "api.example" {
				return c.Successes
			}
		}
		return 0
	}
	if got := calls(); got != 5 {
		t.Fatalf("%d calls, want 5", got)
	}
	a.Get("other") // evicts a's api.example, with its 4 calls
	if got := calls(); got != 5 {
		t.Fatalf("%d calls after one registry evicted its breaker, want still 5", got)
	}
	a.Get("api.example").Do(context.Background(), ok) // a new breaker of the name, from 0
	if got := calls(); got != 6 {
		t.Fatalf("%d calls, want 6", got)
	}
	b.Get("x")
	a.Get("y") // the name has no breaker left: it is not reported
	if got := calls(); got != 0 {
		t.Fatalf("a name with no breaker left still reported: %d calls", got)
	}
	a.Get("api.example") // made again: it goes on from its counts
	if got := calls(); got != 6 {
		t.Fatalf("%d calls for a name made again, want its 6: a reader that missed its absence would see it fall", got)
	}
}
