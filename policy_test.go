package breakwater_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/fallback"
	"github.com/breakwater-go/breakwater/internal/testpolicy"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
)

// A policy written in another package composes with the built-ins, and its
// rejection is recognised by them without either knowing the other.
func TestPolicyOfAnotherPackageComposes(t *testing.T) {
	s := newStack(t, breaker.Config{Trip: breaker.Consecutive(5)}, retry.Config{MaxAttempts: 3})
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	slow := func(context.Context) (string, error) {
		entered <- struct{}{}
		<-release
		return "slow", nil
	}
	call, err := breakwater.WrapWith(slow,
		breakwater.Results[string]{Fallback: fallback.Func(func(context.Context, error) (string, error) { return "shed", nil })},
		s.r, testpolicy.Cap(1), s.b)
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan string)
	go func() { v, _ := call(context.Background()); first <- v }()
	<-entered
	// The slot is taken: the cap rejects, retry does not retry a rejection,
	// and the fallback answers.
	v, err := call(context.Background())
	if v != "shed" || err != nil {
		t.Fatalf("second call: %q, %v", v, err)
	}
	close(release)
	if v := <-first; v != "slow" {
		t.Fatalf("first call: %q", v)
	}
	if m := s.r.Metrics(); m.Retries != 0 {
		t.Fatalf("the rejection was retried: %+v", m)
	}
	if m := s.b.Metrics(); m.Calls != 1 {
		t.Fatalf("breaker saw %d calls, want 1: the rejected call never reached it", m.Calls)
	}
}

// next may run concurrently: a policy that races two runs gets the
// winner's result, with built-in layers inside and outside it.
func TestNextRunsConcurrently(t *testing.T) {
	s := newStack(t, breaker.Config{Trip: breaker.Consecutive(100)}, retry.Config{MaxAttempts: 2})
	type callID struct{}
	type callState struct {
		id   int
		runs atomic.Int32
	}
	fn := func(ctx context.Context) (int, error) {
		st := ctx.Value(callID{}).(*callState)
		if st.runs.Add(1) == 1 { // the first run is slow: it loses and is cancelled
			<-ctx.Done()
			return -1, ctx.Err()
		}
		return st.id, nil
	}
	call, err := breakwater.Wrap(fn, s.r, testpolicy.Race(), s.b)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.WithValue(context.Background(), callID{}, &callState{id: i + 1})
			v, err := call(ctx)
			if err != nil || v != i+1 {
				t.Errorf("call %d got %v, %v: want the winning run's result, %d", i+1, v, err, i+1)
			}
		}()
	}
	wg.Wait()
	if m := s.b.Metrics(); m.Calls != 100 || m.Failures != 0 {
		t.Fatalf("breaker metrics %+v: want 100 calls, the cancelled ones ignored", m)
	}
}

// Built-in stacks allocate nothing per successful call, and a stack with
// a policy of another package nothing once warm.
func TestStacksAllocateNothing(t *testing.T) {
	r, _ := retry.New(retry.Config{})
	b, _ := breaker.New(breaker.Config{})
	ctx := context.Background()
	for name, policies := range map[string][]any{
		"built-in":      {r, b},
		"with a policy": {r, testpolicy.Cap(4), b},
	} {
		call, err := breakwater.Wrap(lookup, policies...)
		if err != nil {
			t.Fatal(err)
		}
		if allocs := testing.AllocsPerRun(1000, func() { _, _ = call(ctx) }); allocs > 0 {
			t.Errorf("%s: %v allocations per call", name, allocs)
		}
	}
}

// admitter is the one two-step shape of every policy that admits calls:
// Allow, then the Permit's Done with the outcome, or Release to give it
// back unreported.
type admitter interface {
	Allow(context.Context) (outcome.Permit, error)
}

var (
	_ admitter = (*breaker.Breaker)(nil)
	_ admitter = (*bulkhead.Bulkhead)(nil)
	_ admitter = (*throttle.Throttle)(nil)
	_ admitter = (*adaptive.Limiter)(nil)
)
