package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/throttle"
)

var (
	errTooMany  = errors.New("429 Too Many Requests")
	errNotFound = errors.New("404 Not Found")
)

// draw is a settable random source.
type draw struct{ v atomic.Value }

func (d *draw) set(f float64) { d.v.Store(f) }
func (d *draw) next() float64 { return d.v.Load().(float64) }
func newDraw(f float64) *draw { d := &draw{}; d.set(f); return d }

func newThrottle(t *testing.T, cfg throttle.Config) (*throttle.Throttle, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.NewFake(time.Time{})
	cfg.Clock = clk
	th, err := throttle.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return th, clk
}

func sre(requests, accepts, k float64) float64 {
	return math.Max(0, (requests-k*accepts)/(requests+1))
}

// The probability of a local refusal is the SRE book's formula over the
// window's counts, and a refused call counts as a request.
func TestProbabilityFollowsTheFormula(t *testing.T) {
	d := newDraw(0.9999999) // refuses nothing until p is near 1
	th, _ := newThrottle(t, throttle.Config{Rand: d.next, Refused: func(err error) bool { return errors.Is(err, errTooMany) }})
	ctx := context.Background()
	for i := range 100 {
		err := errTooMany
		switch {
		case i%10 == 0:
			err = nil
		case i%10 == 1:
			err = errNotFound // an answer: accepted
		}
		_ = th.Do(ctx, func(context.Context) error { return err })
	}
	m := th.Metrics()
	if m.Requests != 100 || m.Accepts != 20 || m.Probability != sre(100, 20, 2) || m.Refused != 80 {
		t.Fatalf("metrics %+v; want p = %v", m, sre(100, 20, 2))
	}
	var events []throttle.RejectEvent
	th2, _ := newThrottle(t, throttle.Config{Rand: d.next, Hooks: throttle.Hooks{
		OnReject: func(_ context.Context, e throttle.RejectEvent) { events = append(events, e) }}})
	for range 100 {
		_ = th2.Do(ctx, func(context.Context) error { return errTooMany })
	}
	// p = 100/101, capped at 0.9; a draw of 0.5 is below it: refused.
	d.set(0.5)
	calls := 0
	err := th2.Do(ctx, func(context.Context) error { calls++; return nil })
	if !errors.Is(err, throttle.ErrThrottled) || !outcome.Rejected(err) || calls != 0 {
		t.Fatalf("with p near 1 and a draw of 0.5: %v after %d calls", err, calls)
	}
	// The refusal is not a request: the window still holds the 100 sent.
	if m := th2.Metrics(); m.Requests != 100 || m.Throttled != 1 || len(events) != 1 || events[0].Probability != 0.9 {
		t.Fatalf("metrics %+v, events %+v", m, events)
	}
}

// With K accepts for every request, nothing is refused.
func TestNoRefusalWhileTheDependencyAccepts(t *testing.T) {
	th, _ := newThrottle(t, throttle.Config{Rand: newDraw(0).next})
	for range 1000 {
		if err := th.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if m := th.Metrics(); m.Probability != 0 || m.Throttled != 0 {
		t.Fatalf("metrics %+v", m)
	}
}

// The counts slide out of the window: the throttle forgets an old outage.
func TestWindowSlides(t *testing.T) {
	th, clk := newThrottle(t, throttle.Config{Window: time.Minute, Buckets: 6, Rand: newDraw(0.9999999).next})
	for range 50 {
		_ = th.Do(context.Background(), func(context.Context) error { return errTooMany })
	}
	clk.Advance(50 * time.Second)
	if m := th.Metrics(); m.Requests != 50 {
		t.Fatalf("after 50 s: %+v", m)
	}
	clk.Advance(10 * time.Second)
	if m := th.Metrics(); m.Requests != 0 || m.Probability != 0 {
		t.Fatalf("after the window: %+v", m)
	}
}

func TestPanickingCallCountsAsRefused(t *testing.T) {
	th, _ := newThrottle(t, throttle.Config{Refused: func(error) bool { return false }})
	func() {
		defer func() { recover() }()
		_ = th.Do(context.Background(), func(context.Context) error { panic("boom") })
	}()
	if m := th.Metrics(); m.Requests != 1 || m.Accepts != 0 || m.Refused != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

// Many goroutines against a dependency that refuses most calls: every call
// is counted once, and the share sent converges on what the formula allows.
func TestConcurrentCallersAreCounted(t *testing.T) {
	th, _ := newThrottle(t, throttle.Config{})
	var sent, throttled atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				err := th.Do(context.Background(), func(context.Context) error {
					sent.Add(1)
					if (g+i)%10 == 0 { // the dependency accepts 10 %
						return nil
					}
					return errTooMany
				})
				if errors.Is(err, throttle.ErrThrottled) {
					throttled.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	m := th.Metrics()
	if m.Requests != sent.Load() || uint64(sent.Load()) != m.Admitted || sent.Load()+throttled.Load() != 16000 || uint64(throttled.Load()) != m.Throttled {
		t.Fatalf("metrics %+v; sent %d, throttled %d", m, sent.Load(), throttled.Load())
	}
	// Accepting 10 % of what it receives, the dependency gets about K ×
	// accepts: requests/sent settles near 1 - p.
	if share := float64(sent.Load()) / 16000; share > 0.5 {
		t.Fatalf("%.0f%% of calls were sent to a dependency refusing 90%%", share*100)
	}
}

func TestInvalidConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg   throttle.Config
		field string
	}{
		{throttle.Config{K: 0.5}, "K"},
		{throttle.Config{K: math.NaN()}, "K"},
		{throttle.Config{Window: -time.Second}, "Window"},
		{throttle.Config{Buckets: 1001}, "Buckets"},
		{throttle.Config{Window: 5, Buckets: 10}, "Buckets"},
	} {
		_, err := throttle.New(tt.cfg)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, config.ErrInvalid) {
			t.Errorf("New(%+v) = %v, want a config.Error for %s", tt.cfg, err, tt.field)
		}
	}
}

// A Refused that panics leaves the throttle counting: the panic goes on
// up the caller's stack, and later calls are counted as before.
func TestPanickingRefused(t *testing.T) {
	th, _ := newThrottle(t, throttle.Config{Rand: newDraw(0.99).next, Refused: func(error) bool { panic("classifier") }})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("no panic")
			}
		}()
		_ = th.Do(context.Background(), func(context.Context) error { return errTooMany })
	}()
	_ = th.Do(context.Background(), func(context.Context) error { return nil })
	if m := th.Metrics(); m.Requests != 2 || m.Accepts != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

// innerRejection is what a policy inside the throttle returns for a call
// it turned away before the dependency saw it.
type innerRejection struct{}

func (innerRejection) Error() string  { return "bulkhead full" }
func (innerRejection) Rejected() bool { return true }

// A call a policy inside the throttle turned away counts as neither a
// request nor an accept: the dependency never saw it.
func TestInnerRejectionsCountAsNeither(t *testing.T) {
	th, _ := newThrottle(t, throttle.Config{Rand: newDraw(0.9999999).next})
	ctx := context.Background()
	for range 10 {
		_ = th.Do(ctx, func(context.Context) error { return errTooMany })
	}
	for range 50 {
		_ = th.Do(ctx, func(context.Context) error { return fmt.Errorf("layer: %w", innerRejection{}) })
	}
	if m := th.Metrics(); m.Requests != 10 || m.Accepts != 0 || m.Refused != 10 {
		t.Errorf("metrics %+v; want 10 requests, all refused", m)
	}
}

// How an integration marks an outcome decides how the throttle counts it.
func TestVerdictsDecide(t *testing.T) {
	tests := []struct {
		err                        error
		requests, accepts, refused int64
	}{
		{outcome.Mark(errTooMany, outcome.Failure), 1, 0, 1},
		{outcome.Mark(errTooMany, outcome.Success), 1, 1, 0},
		{outcome.Mark(errTooMany, outcome.Ignored), 0, 0, 0},
		{outcome.Mark(errTooMany, outcome.Overloaded), 1, 0, 1}, // shedding: refused
		{context.Canceled, 0, 0, 0},
		{errTooMany, 1, 0, 1},
	}
	for _, tt := range tests {
		th, _ := newThrottle(t, throttle.Config{Rand: newDraw(0.9999999).next})
		_ = th.Do(context.Background(), func(context.Context) error { return tt.err })
		if m := th.Metrics(); m.Requests != tt.requests || m.Accepts != tt.accepts || int64(m.Refused) != tt.refused {
			t.Errorf("%v: metrics %+v; want %d requests, %d accepts, %d refused", tt.err, m, tt.requests, tt.accepts, tt.refused)
		}
	}
}

// After an outage the throttle lets calls through again within one window
// of full health, at any rate: the refused share of calls falls under 10 %
// within 30 seconds. (The book's rule, counting local refusals with no cap,
// took 694 s at 10 calls a second.)
func TestRecoversWithinAWindowAfterAnOutage(t *testing.T) {
	for _, rate := range []int{1, 10, 100} {
		clk := clocktest.NewFake(time.Time{})
		rng := rand.New(rand.NewPCG(1, uint64(rate)))
		th, err := throttle.New(throttle.Config{Clock: clk, Rand: rng.Float64})
		if err != nil {
			t.Fatal(err)
		}
		down := true
		call := func(context.Context) error {
			if down {
				return errTooMany
			}
			return nil
		}
		refusedIn := func(d time.Duration) float64 { // the share refused over d
			refused, calls := 0, int(d/time.Second)*rate
			for range calls {
				clk.Advance(time.Second / time.Duration(rate))
				if errors.Is(th.Do(context.Background(), call), throttle.ErrThrottled) {
					refused++
				}
			}
			return float64(refused) / float64(calls)
		}
		outage := refusedIn(time.Minute)
		down = false
		var shares []float64
		for range 4 {
			shares = append(shares, refusedIn(30*time.Second))
		}
		t.Logf("%d calls/s: refused %.2f during a 1-minute outage; then per 30 s of health: %.3f", rate, outage, shares)
		if outage < 0.5 {
			t.Errorf("%d calls/s: refused %.2f of the outage's calls, want most", rate, outage)
		}
		for i, share := range shares[1:] {
			if share >= 0.10 {
				t.Errorf("%d calls/s: %.3f refused %ds to %ds into health, want under 10%%", rate, share, 30*(i+1), 30*(i+2))
			}
		}
	}
}

// Calls in flight are not refusals: a request counts once its outcome is
// known, as gRPC's adaptive throttler counts them. Counted when sent, a
// burst of concurrent first calls read as requests the dependency had not
// accepted, and a fresh (or idle) throttle refused most of them.
func TestCallsInFlightAreNotRefusals(t *testing.T) {
	th, _ := newThrottle(t, throttle.Config{Rand: func() float64 { return 0.01 }})
	var permits []outcome.Permit
	for i := range 50 {
		p, err := th.Allow(context.Background())
		if err != nil {
			t.Fatalf("call %d of a burst refused: %v (%+v)", i, err, th.Metrics())
		}
		permits = append(permits, p)
	}
	for _, p := range permits {
		p.Done(nil)
	}
	if m := th.Metrics(); m.Requests != 50 || m.Accepts != 50 || m.Admitted != 50 || m.Throttled != 0 {
		t.Fatalf("%+v", m)
	}
}
