package breaker_test

import (
	"context"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
)

// A shadow breaker goes through the states an enforcing one would, with
// the same counts and events, but runs every call; the calls it would have
// turned away are counted as rejections and left unrecorded.
func TestShadowModeNeverRejects(t *testing.T) {
	var shadowed []breaker.RejectEvent
	var changes []breaker.StateChange
	hooks := breaker.Hooks{
		OnReject:      func(_ context.Context, e breaker.RejectEvent) { shadowed = append(shadowed, e) },
		OnStateChange: func(c breaker.StateChange) { changes = append(changes, c) },
	}
	shadow, clk := newBreaker(t, breaker.Config{Shadow: true, Hooks: hooks})
	enforcing, clk2 := newBreaker(t, breaker.Config{})

	ran := 0
	call := func(err error) func(context.Context) error {
		return func(context.Context) error { ran++; return err }
	}
	script := []error{errBoom, errBoom, errBoom, errBoom, nil} // trips on the third; two would be rejected
	for _, err := range script {
		_ = shadow.Do(context.Background(), call(err))
		_ = enforcing.Do(context.Background(), func(context.Context) error { return err })
	}
	if ran != len(script) {
		t.Fatalf("ran %d of %d calls", ran, len(script))
	}
	s, e := shadow.Metrics(), enforcing.Metrics()
	if s.State != breaker.Open || !s.Shadow || s.Rejections != 2 || s.Calls != e.Calls || s.Trips != e.Trips || s.Failures != e.Failures {
		t.Fatalf("shadow %+v\nenforcing %+v", s, e)
	}
	if len(shadowed) != 2 || !shadowed[0].Shadow || shadowed[0].State != breaker.Open {
		t.Fatalf("reject events %+v", shadowed)
	}
	if wait, rej := shadow.Gate(); wait != 0 || rej != nil {
		t.Fatalf("Gate() = %v, %v: a shadow breaker rejects nothing", wait, rej)
	}
	// The probes and their verdict are an enforcing breaker's too.
	clk.Advance(30 * time.Second)
	clk2.Advance(30 * time.Second)
	p, err := shadow.Allow(context.Background()) // the probe
	if err != nil {
		t.Fatal(err)
	}
	if err := shadow.Do(context.Background(), call(errBoom)); err != errBoom { // would be rejected: runs, unrecorded
		t.Fatalf("a call beyond the probe: %v", err)
	}
	wantState(t, shadow, breaker.HalfOpen)
	p.Done(nil)
	wantState(t, shadow, breaker.Closed)
	if len(changes) != 3 {
		t.Fatalf("changes %+v", changes)
	}
}

// ForceOpen is an operator's explicit order: shadow mode enforces it.
func TestShadowModeEnforcesForceOpen(t *testing.T) {
	b, _ := newBreaker(t, breaker.Config{Shadow: true})
	b.ForceOpen()
	if err := run(t, b, nil); err == nil {
		t.Fatal("a forced-open shadow breaker let a call through")
	}
}
