package breaker_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/registry"
)

func TestRegistry(t *testing.T) {
	r, err := breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(1), Clock: clocktest.NewFake(time.Time{})}, 0)
	if err != nil {
		t.Fatal(err)
	}
	pay := r.Get("payments-api")
	if pay.Name() != "payments-api" || r.Get("payments-api") != pay {
		t.Fatal("Get must create once and return the same breaker by name")
	}
	run(t, pay, errBoom)
	wantState(t, pay, breaker.Open)
	wantState(t, r.Get("search-api"), breaker.Closed) // breakers are independent

	custom, _ := breaker.New(breaker.Config{Name: "ledger", Trip: breaker.Consecutive(5)})
	if err := r.Add("ledger", custom); err != nil || r.Get("ledger") != custom {
		t.Fatalf("Add: %v", err)
	}
	if err := r.Add("ledger", custom); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("Add of a taken name: %v", err)
	}

	var names []string
	for _, b := range r.All() {
		names = append(names, b.Name())
	}
	if want := "ledger payments-api search-api"; strings.Join(names, " ") != want {
		t.Fatalf("Breakers() = %v, want %s", names, want)
	}
	r.Remove("search-api")
	if len(r.All()) != 2 {
		t.Fatal("Remove left the breaker registered")
	}
}

func TestRegistryConcurrentGetCreatesOne(t *testing.T) {
	r, _ := breaker.NewRegistry(breaker.Config{}, 0)
	const n = 64
	got := make([]*breaker.Breaker, n)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = r.Get("host-a") }()
	}
	wg.Wait()
	for _, b := range got {
		if b != got[0] {
			t.Fatal("concurrent Get created more than one breaker")
		}
	}
}

// An open circuit outlives closed ones under eviction pressure, even when
// every breaker was looked up lately: evicting it would forget the outage
// and send the next call to the failing dependency.
func TestRegistryEvictsClosedBreakersBeforeAnOpenOne(t *testing.T) {
	reg, err := breaker.NewRegistry(breaker.Config{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	failing := reg.Get("failing")
	failing.Trip()
	reg.Get("a")
	reg.Get("b")
	for _, name := range []string{"failing", "a", "b"} {
		reg.Get(name) // every one looked up since the sweep passed
	}
	reg.Get("c")
	if reg.Get("failing") != failing {
		t.Fatal("the open circuit was evicted while closed ones stayed")
	}
}
