package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
)

func TestHooksSeeEveryEvent(t *testing.T) {
	var log []string
	var b *breaker.Breaker
	hooks := breaker.Hooks{
		OnStateChange: func(c breaker.StateChange) {
			// Hooks run outside the lock: reading the breaker must not deadlock.
			log = append(log, fmt.Sprintf("%s: %v→%v (now %v)", c.Name, c.From, c.To, b.State()))
		},
		OnSuccess: func(_ context.Context, e breaker.CallEvent) { log = append(log, "success in "+e.State.String()) },
		OnFailure: func(_ context.Context, e breaker.CallEvent) { log = append(log, "failure: "+e.Err.Error()) },
		OnIgnore:  func(_ context.Context, e breaker.CallEvent) { log = append(log, "ignored: "+e.Err.Error()) },
		OnReject:  func(_ context.Context, e breaker.RejectEvent) { log = append(log, "rejected by "+e.State.String()) },
	}
	b, clk := newBreaker(t, breaker.Config{Name: "db", Trip: breaker.Consecutive(2), Hooks: hooks})
	run(t, b, nil)
	run(t, b, context.Canceled)
	run(t, b, errBoom)
	run(t, b, errBoom)
	run(t, b, nil)
	clk.Advance(30 * time.Second)
	run(t, b, nil)
	want := []string{
		"success in closed",
		"ignored: context canceled",
		"failure: boom",
		"failure: boom",
		"db: closed→open (now open)",
		"rejected by open",
		"db: open→half-open (now half-open)",
		"success in half-open",
		"db: half-open→closed (now closed)",
	}
	if !reflect.DeepEqual(log, want) {
		t.Fatalf("events:\n%q\nwant:\n%q", log, want)
	}
}

func TestStateChangeHookMayChangeTheState(t *testing.T) {
	var changes []string
	var b *breaker.Breaker
	b, _ = newBreaker(t, breaker.Config{Hooks: breaker.Hooks{OnStateChange: func(c breaker.StateChange) {
		changes = append(changes, c.From.String()+"→"+c.To.String())
		if c.To == breaker.Open {
			b.Reset() // re-entering the breaker from its own hook
		}
	}}})
	b.Trip()
	wantState(t, b, breaker.Closed)
	if want := []string{"closed→open", "open→closed"}; !reflect.DeepEqual(changes, want) {
		t.Fatalf("changes = %q, want %q in order", changes, want)
	}
}

func TestSlowStateHookDoesNotBlockOtherCallers(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	b, _ := newBreaker(t, breaker.Config{Trip: breaker.Consecutive(1), Hooks: breaker.Hooks{
		OnStateChange: func(breaker.StateChange) { once.Do(func() { close(entered); <-release }) },
	}})
	tripped := make(chan error)
	go func() { tripped <- run(t, b, errBoom) }()
	<-entered // the tripping caller is stuck in the hook

	// Others are answered at once, and a second transition queues behind the hook.
	for i := 0; i < 100; i++ {
		if err := run(t, b, nil); !errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("call during a slow hook: %v", err)
		}
	}
	b.Reset()
	wantState(t, b, breaker.Closed)
	close(release)
	if err := <-tripped; !errors.Is(err, errBoom) {
		t.Fatalf("tripping call returned %v", err)
	}
}

func TestJoinHooks(t *testing.T) {
	var got []string
	a := breaker.Hooks{OnFailure: func(context.Context, breaker.CallEvent) { got = append(got, "a") }}
	b := breaker.Hooks{
		OnFailure:     func(context.Context, breaker.CallEvent) { got = append(got, "b") },
		OnStateChange: func(breaker.StateChange) { got = append(got, "b-state") },
	}
	j := breaker.JoinHooks(a, breaker.Hooks{}, b)
	if j.OnSuccess != nil || j.OnReject != nil {
		t.Fatal("joined hooks set a function none of the parts had")
	}
	br, _ := breaker.New(breaker.Config{Trip: breaker.Consecutive(1), Hooks: j, Clock: clocktest.NewFake(time.Time{})})
	run(t, br, errBoom)
	if want := []string{"a", "b", "b-state"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("calls = %q, want %q", got, want)
	}
}

func TestCallEventDuration(t *testing.T) {
	var mu sync.Mutex
	var got []breaker.CallEvent
	b, clk := newBreaker(t, breaker.Config{SlowCallDuration: 300 * time.Millisecond, Hooks: breaker.Hooks{
		OnSuccess: func(_ context.Context, e breaker.CallEvent) { mu.Lock(); got = append(got, e); mu.Unlock() },
	}})
	b.Do(context.Background(), func(context.Context) error { clk.Advance(200 * time.Millisecond); return nil })
	b.Do(context.Background(), func(context.Context) error { clk.Advance(time.Second); return nil })
	if len(got) != 2 || got[0].Duration != 200*time.Millisecond || got[0].Slow || got[1].Duration != time.Second || !got[1].Slow {
		t.Fatalf("events = %+v", got)
	}
}

// The call hooks get the call's context: a span or a trace-aware logger in
// it reaches them, through Do and through the two-step form.
func TestCallHooksGetTheCallsContext(t *testing.T) {
	type key struct{}
	var got []any
	record := func(ctx context.Context, _ breaker.CallEvent) { got = append(got, ctx.Value(key{})) }
	b, _ := newBreaker(t, breaker.Config{Trip: breaker.Consecutive(1), Hooks: breaker.Hooks{
		OnSuccess: record, OnFailure: record,
		OnReject: func(ctx context.Context, _ breaker.RejectEvent) { got = append(got, ctx.Value(key{})) },
	}})
	ctx := context.WithValue(context.Background(), key{}, "span")
	_ = b.Do(ctx, func(context.Context) error { return nil })
	p, _ := b.Allow(ctx)
	p.Done(errBoom) // opens
	_, _ = b.Allow(ctx)
	if len(got) != 3 || got[0] != "span" || got[1] != "span" || got[2] != "span" {
		t.Fatalf("hooks saw %v; want the call's context three times", got)
	}
}

// A state change a call's outcome makes carries that call's context; one
// no call made carries context.Background().
func TestStateChangeCarriesTheCallsContext(t *testing.T) {
	type key struct{}
	var changes []breaker.StateChange
	b, err := breaker.New(breaker.Config{Trip: breaker.Consecutive(1), Hooks: breaker.Hooks{
		OnStateChange: func(c breaker.StateChange) { changes = append(changes, c) }}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), key{}, "the call")
	_ = b.Do(ctx, func(context.Context) error { return errors.New("boom") })
	b.Reset()
	if len(changes) != 2 || changes[0].Context.Value(key{}) != "the call" || changes[1].Context != context.Background() {
		t.Fatalf("changes %+v", changes)
	}
	// The two-step form keeps the context Allow was given for Done.
	p, err := b.Allow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Done(errors.New("boom"))
	if len(changes) != 3 || changes[2].Context.Value(key{}) != "the call" {
		t.Fatalf("the trip of a Permit's Done carries %v", changes[2].Context)
	}
}

// A Permit keeps the call's context only for hooks that are given it:
// without them the two-step form allocates nothing; with them, one value
// per call holds the context.
func TestAllowKeepsTheContextOnlyForHooks(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		hooks  breaker.Hooks
		allocs float64
	}{
		{"no hooks", breaker.Hooks{}, 0},
		{"a reject hook", breaker.Hooks{OnReject: func(context.Context, breaker.RejectEvent) {}}, 0},
		{"a state-change hook", breaker.Hooks{OnStateChange: func(breaker.StateChange) {}}, 1},
		{"a call hook", breaker.Hooks{OnSuccess: func(context.Context, breaker.CallEvent) {}}, 1},
	} {
		b, err := breaker.New(breaker.Config{Hooks: tc.hooks})
		if err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			p, _ := b.Allow(ctx)
			p.Done(nil)
			p, _ = b.Allow(ctx)
			p.Release()
		})
		if allocs != 2*tc.allocs {
			t.Errorf("%s: %v allocations for two permits, want %v", tc.name, allocs, 2*tc.allocs)
		}
		if m := b.Metrics(); m.Successes == 0 || m.Ignored == 0 {
			t.Errorf("%s: %+v", tc.name, m)
		}
	}
}
