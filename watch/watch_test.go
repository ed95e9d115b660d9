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
	reg, _ := breaker.NewRegistry(breaker.RegistryConfig{})
	a := reg.Get("api")
	b, _ := breaker.New(breaker.Config{Name: "api"})
	bad, _ := breaker.New(breaker.Config{Name: "x\xffy"})
	l.AddRegistry(reg)
	l.AddBreaker(a) // also in the registry: counted once
	l.AddBreaker(b)
	l.AddBreaker(bad)
	ctx := context.Background()
	_ = a.Do(ctx, func(context.Context) error { return nil })
	_ = b.Do(ctx, func(context.Context) error { return errors.New("x") })
	b.Trip()
	r1, _ := retry.New(retry.Config{Name: "r"})
	r2, _ := retry.New(retry.Config{Name: "r", NoBudget: true})
	l.AddRetry(r1)
	l.AddRetry(r2)

	circuits, retries := l.Report()
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
