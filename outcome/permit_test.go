package outcome_test

import (
	"context"
	"testing"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/admission"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/throttle"
)

func TestZeroPermitDoesNothing(t *testing.T) {
	var p outcome.Permit
	p.Done(nil)
	p.Release()
}

// TestPermitsOfEveryPolicy holds the permits of every policy that admits
// calls in one slice, ends them by Done and by Release, and checks that
// each policy saw every permit end and that neither step allocates.
func TestPermitsOfEveryPolicy(t *testing.T) {
	ctx := context.Background()
	br, _ := breaker.New(breaker.Config{Name: "b"})
	bh, _ := bulkhead.New(bulkhead.Config{Name: "h", MaxConcurrent: 2})
	th, _ := throttle.New(throttle.Config{Name: "t"})
	ad, _ := adaptive.New(adaptive.Config{Name: "a"})
	ac, _ := admission.New(admission.Config{Name: "c"})
	allow := []func() (outcome.Permit, error){
		func() (outcome.Permit, error) { return br.Allow(ctx) },
		func() (outcome.Permit, error) { return bh.Allow(ctx) },
		func() (outcome.Permit, error) { return th.Allow(ctx) },
		func() (outcome.Permit, error) { return ad.Allow(ctx) },
		func() (outcome.Permit, error) { return ac.Admit(ctx, admission.Default) },
	}
	var held []outcome.Permit
	for range 2 {
		for _, a := range allow {
			p, err := a()
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, p)
		}
	}
	for i, p := range held {
		if i%2 == 0 {
			p.Done(nil)
		} else {
			p.Release()
		}
	}
	// The breaker's two permits are held[0] (Done) and held[5] (Release).
	if m := br.Metrics(); m.Successes != 1 || m.Ignored != 1 {
		t.Errorf("breaker: %d successes, %d ignored; want 1 and 1", m.Successes, m.Ignored)
	}
	if m := bh.Metrics(); m.InFlight != 0 {
		t.Errorf("bulkhead: %d in flight after every permit ended", m.InFlight)
	}
	if m := ad.Metrics(); m.InFlight != 0 {
		t.Errorf("adaptive: %d in flight after every permit ended", m.InFlight)
	}
	if m := ac.Metrics(); m.InFlight != 0 {
		t.Errorf("admission: %d in flight after every permit ended", m.InFlight)
	}
	for i, a := range allow {
		if allocs := testing.AllocsPerRun(100, func() {
			p, _ := a()
			p.Done(nil)
			p, _ = a()
			p.Release()
		}); allocs > 0 {
			t.Errorf("policy %d: %v allocations to take and end a permit", i, allocs)
		}
	}
}
