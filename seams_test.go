package breakwater_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/fallback"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/internal/testpolicy"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
	"github.com/breakwater-go/breakwater/timeout"
)

// The composition fuzzer: random stacks of every built-in policy and two
// custom ones (one that stops waiting for next, as a timeout does, and one
// that runs next twice at once, as a hedge does), run by concurrent callers
// in a synctest bubble (time is fake) against random faults (panics,
// cancellations, slow calls, hangs, fast failures, rejections) during an
// outage, then recovery. After every run it checks that
//   - every call returned (or panicked) exactly once, with an error that
//     errors.Is recognises for what happened;
//   - nothing stays held: no call in flight in a bulkhead or adaptive limit,
//     no goroutine left (synctest fails a bubble whose goroutines remain);
//   - each admission policy's counters add up to the calls that reached it;
//   - no call returned a value that another call produced;
//   - once the faults stop, after recoveryBound, every call succeeds: each
//     policy admits again (a breaker after its open duration and a probe, a
//     throttle after its window, a rate limiter after its refill, the
//     others at once).
// A failure names the seed that reproduces it.

// recoveryBound is how long after the faults stop every stack admits
// again: the longest open duration (500 ms) and throttle window (1 s) the
// generator picks, with room for a probe.
const recoveryBound = 2 * time.Second

type fault uint8

const (
	faultNone     fault = iota
	faultFail           // fails at once
	faultSlowFail       // fails after a while
	faultSlow           // succeeds after a while
	faultHang           // waits for its context to end
	faultPanic          // panics
	faultReject         // a rejection of a policy of another package
	faultCancel         // its caller gives up while it runs
	faults
)

var (
	errFault    = errors.New("injected failure")
	errRejected = rejectedError{}
)

type rejectedError struct{}

func (rejectedError) Error() string  { return "injected rejection" }
func (rejectedError) Rejected() bool { return true }

// known lists what a call may fail with; anything else is a seam that
// lost or changed an error.
var known = []error{errFault, testpolicy.ErrAbandoned, errRejected, context.Canceled, context.DeadlineExceeded,
	timeout.ErrTimeout, breaker.ErrOpen, breaker.ErrPanicked, bulkhead.ErrFull, ratelimit.ErrLimited,
	throttle.ErrThrottled, adaptive.ErrLimited, retry.ErrBudgetExhausted, retry.ErrExhausted}

// layer is one policy of a stack, with what to check of it after a run.
type layer struct {
	name     string
	policy   any
	fallback bool // the stack's Results.Fallback, not a policy
	// entered counts the calls that reached the layer (a probe just
	// outside it), and check compares its counters with them.
	entered atomic.Int64
	check   func(entered int64) error
}

// probe counts the calls that reach l, outside it.
func (l *layer) probe() any {
	return breakwater.PolicyFunc(func(next breakwater.Next) breakwater.Next {
		return func(ctx context.Context, c breakwater.Call) error {
			l.entered.Add(1)
			return next(ctx, c)
		}
	})
}

// stackOf builds a random stack of 1 to 5 layers from rng.
func stackOf(rng *rand.Rand) []*layer {
	var ls []*layer
	for range 1 + rng.IntN(5) {
		l := &layer{}
		switch rng.IntN(11) {
		case 0:
			p, _ := retry.New(retry.Config{MaxAttempts: 2 + rng.IntN(3), Delay: time.Duration(1+rng.IntN(10)) * time.Millisecond})
			l.name, l.policy = "retry", p
			l.check = func(entered int64) error {
				if m := p.Metrics(); int64(m.Calls) != entered {
					return fmt.Errorf("%d calls counted, %d reached it", m.Calls, entered)
				}
				return nil
			}
		case 1:
			b, _ := breaker.New(breaker.Config{Trip: breaker.Consecutive(2 + rng.IntN(4)), OpenDuration: time.Duration(50+rng.IntN(450)) * time.Millisecond})
			l.name, l.policy = "breaker", b
			l.check = func(entered int64) error {
				if m := b.Metrics(); int64(m.Calls+m.Rejections) != entered {
					return fmt.Errorf("%d calls + %d rejections counted, %d reached it", m.Calls, m.Rejections, entered)
				}
				return nil
			}
		case 2:
			b, _ := bulkhead.New(bulkhead.Config{MaxConcurrent: 1 + rng.IntN(4), MaxQueue: rng.IntN(3)})
			l.name, l.policy = "bulkhead", b
			l.check = func(entered int64) error {
				m := b.Metrics()
				if m.InFlight != 0 || m.Queued != 0 {
					return fmt.Errorf("%d in flight, %d queued after every call returned", m.InFlight, m.Queued)
				}
				if int64(m.Admitted+m.Rejected+m.Cancelled) != entered {
					return fmt.Errorf("%d admitted + %d rejected + %d cancelled, %d reached it", m.Admitted, m.Rejected, m.Cancelled, entered)
				}
				return nil
			}
		case 3:
			r, _ := ratelimit.New(ratelimit.Config{Rate: float64(100 + rng.IntN(900)), Burst: 1 + rng.IntN(5), MaxWait: time.Duration(rng.IntN(20)) * time.Millisecond})
			l.name, l.policy = "rate limit", r
			l.check = func(entered int64) error {
				if m := r.Metrics(); int64(m.Allowed+m.Rejected) > entered {
					return fmt.Errorf("%d allowed + %d rejected, %d reached it", m.Allowed, m.Rejected, entered)
				}
				return nil
			}
		case 4:
			th, _ := throttle.New(throttle.Config{Window: time.Second, Buckets: 10})
			l.name, l.policy = "throttle", th
			l.check = func(entered int64) error {
				if m := th.Metrics(); int64(m.Admitted+m.Throttled) != entered {
					return fmt.Errorf("%d admitted + %d throttled, %d reached it", m.Admitted, m.Throttled, entered)
				}
				return nil
			}
		case 5:
			a, _ := adaptive.New(adaptive.Config{InitialLimit: 1 + rng.IntN(8)})
			l.name, l.policy = "adaptive limit", a
			l.check = func(entered int64) error {
				m := a.Metrics()
				if m.InFlight != 0 {
					return fmt.Errorf("%d in flight after every call returned", m.InFlight)
				}
				if int64(m.Admitted+m.Rejected) != entered {
					return fmt.Errorf("%d admitted + %d rejected, %d reached it", m.Admitted, m.Rejected, entered)
				}
				return nil
			}
		case 6:
			h, _ := hedge.New(hedge.Config{Delay: time.Duration(2+rng.IntN(20)) * time.Millisecond, MaxHedges: 1 + rng.IntN(2), BudgetRatio: 1})
			l.name, l.policy = "hedge", h
			l.check = func(entered int64) error {
				if m := h.Metrics(); int64(m.Calls) != entered || m.Rejected > m.Hedges {
					return fmt.Errorf("%d calls, %d hedges, %d rejected; %d reached it", m.Calls, m.Hedges, m.Rejected, entered)
				}
				return nil
			}
		case 7:
			p, _ := timeout.New(timeout.Config{Timeout: time.Duration(5+rng.IntN(50)) * time.Millisecond})
			l.name, l.policy = "timeout", p
		case 8:
			l.name, l.fallback = "fallback", true // the stack's, outermost
		case 9:
			d := time.Duration(5+rng.IntN(50)) * time.Millisecond
			l.name, l.policy = fmt.Sprintf("abandon after %v", d), testpolicy.Abandon(d)
		case 10:
			l.name, l.policy = "race", testpolicy.Race()
		}
		ls = append(ls, l)
	}
	return ls
}

// fallbackValue is the fallback's answer: no call's own value.
const fallbackValue = -1

type callKey struct{}

// seams runs one random stack, its configuration and faults drawn from
// seed, and reports what went wrong.
func seams(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed>>32|1))
	layers := stackOf(rng)
	var names []string
	var policies []any
	// Every value a policy drops is recorded: none may be returned too.
	var mu sync.Mutex
	dropped, returnedVals := map[int64]bool{}, []int64{}
	results := breakwater.Results[int64]{Drop: func(v int64, _ error) {
		mu.Lock()
		defer mu.Unlock()
		if v != 0 && dropped[v] {
			t.Errorf("value %d dropped twice", v)
		}
		dropped[v] = true
	}}
	for _, l := range layers {
		names = append(names, l.name)
		if l.fallback {
			results.Fallback = fallback.Value[int64](fallbackValue).When(outcome.Rejected)
			continue
		}
		if l.check != nil {
			policies = append(policies, l.probe())
		}
		policies = append(policies, l.policy)
	}
	describe := fmt.Sprintf("seed %d, stack %s", seed, strings.Join(names, " → "))

	// The faults, drawn up front so that the callers' goroutines do not
	// share rng: per call and attempt, by the call's number.
	const callers, perCaller = 6, 8
	plan := make([][]fault, callers*perCaller)
	for i := range plan {
		plan[i] = make([]fault, 16)
		for j := range plan[i] {
			plan[i][j] = fault(rng.IntN(int(faults)))
		}
	}
	var outage atomic.Bool
	outage.Store(true)
	var fnRuns atomic.Int64
	fn := func(ctx context.Context) (int64, error) {
		id := ctx.Value(callKey{}).(int64)
		attempt := fnRuns.Add(1)
		f := faultNone
		if outage.Load() && id < int64(len(plan)) {
			f = plan[id][attempt%16]
		}
		v := id*1_000_000 + attempt%1_000_000 // the call's own, and no other's
		switch f {
		case faultFail:
			return 0, errFault
		case faultSlowFail:
			time.Sleep(30 * time.Millisecond)
			return 0, errFault
		case faultSlow:
			time.Sleep(40 * time.Millisecond)
		case faultHang, faultCancel:
			<-ctx.Done()
			return 0, ctx.Err()
		case faultPanic:
			panic("injected panic")
		case faultReject:
			return 0, errRejected
		}
		return v, nil
	}
	stack, err := breakwater.WrapWith(fn, results, policies...)
	if err != nil {
		t.Fatalf("%s: %v", describe, err)
	}

	var started, returned atomic.Int64
	call := func(id int64, cancelAfter time.Duration) (v int64, err error, panicked bool) {
		started.Add(1)
		defer func() {
			returned.Add(1)
			if r := recover(); r != nil {
				panicked = true
			}
		}()
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), callKey{}, id), time.Second)
		defer cancel()
		if cancelAfter > 0 {
			defer time.AfterFunc(cancelAfter, cancel).Stop()
		}
		v, err = stack(ctx)
		return v, err, false
	}
	judge := func(id, v int64, err error, panicked bool) {
		if panicked {
			return
		}
		if v != 0 && v != fallbackValue {
			mu.Lock()
			returnedVals = append(returnedVals, v)
			mu.Unlock()
		}
		if v != 0 && v != fallbackValue && v/1_000_000 != id {
			t.Errorf("%s: call %d returned %d, call %d's value", describe, id, v, v/1_000_000)
		}
		if err != nil && !slicesAny(known, func(k error) bool { return errors.Is(err, k) }) {
			t.Errorf("%s: call %d failed with an error no policy stands for: %v (%T)", describe, id, err, err)
		}
	}

	// The outage: concurrent callers, faults on.
	var wg sync.WaitGroup
	cancels := make([]time.Duration, len(plan))
	for i := range cancels {
		if plan[i][0] == faultCancel {
			cancels[i] = time.Duration(1+rng.IntN(30)) * time.Millisecond
		}
	}
	for g := range callers {
		wg.Go(func() {
			for k := range perCaller {
				id := int64(g*perCaller + k)
				v, err, panicked := call(id, cancels[id])
				judge(id, v, err, panicked)
				time.Sleep(time.Duration(id%7) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	// Recovery: the faults stop; within recoveryBound every policy admits.
	outage.Store(false)
	time.Sleep(recoveryBound)
	for i := range 5 {
		id := int64(len(plan) + i)
		v, err, panicked := call(id, 0)
		if panicked || err != nil || v/1_000_000 != id {
			t.Errorf("%s: %v after the faults stopped, call %d got %d, %v (panicked: %v)", describe, recoveryBound, id, v, err, panicked)
		}
		time.Sleep(10 * time.Millisecond)
	}
	synctest.Wait() // every abandoned run and drained hedge has ended
	for _, v := range returnedVals {
		if dropped[v] {
			t.Errorf("%s: value %d was returned to its caller and dropped too", describe, v)
		}
	}
	if s, r := started.Load(), returned.Load(); s != r {
		t.Errorf("%s: %d calls started, %d returned", describe, s, r)
	}
	for _, l := range layers {
		if l.check != nil {
			if err := l.check(l.entered.Load()); err != nil {
				t.Errorf("%s: %s: %v", describe, l.name, err)
			}
		}
	}
}

func slicesAny[T any](s []T, f func(T) bool) bool {
	for _, v := range s {
		if f(v) {
			return true
		}
	}
	return false
}

// TestCompositionSeams runs the fuzzer over a fixed set of seeds.
func TestCompositionSeams(t *testing.T) {
	stacks := 300
	if testing.Short() {
		stacks = 50
	}
	for seed := range uint64(stacks) {
		synctest.Test(t, func(t *testing.T) { seams(t, seed) })
		if t.Failed() {
			return
		}
	}
	t.Logf("%d random stacks, %d calls each (%d under faults)", stacks, 6*8+5, 6*8)
}

// FuzzCompositionSeams lets the fuzzing engine pick the seeds.
func FuzzCompositionSeams(f *testing.F) {
	for _, seed := range []uint64{0, 1, 42, 1 << 40} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		synctest.Test(t, func(t *testing.T) { seams(t, seed) })
	})
}
