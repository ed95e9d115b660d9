package breaker

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/outcome"
)

var errStress = errors.New("stress failure")

// TestStressAccounting runs many goroutines making many calls with random
// outcomes while the clock moves and an operator pokes the breaker. Every
// call must be counted exactly once, and no more probes than allowed may
// ever hold a slot: at once (HalfOpen.InFlight), or in a half-open period.
func TestStressAccounting(t *testing.T) {
	configs := map[string]Config{
		"consecutive": {Trip: Consecutive(3), HalfOpen: Probes{Max: 2, SuccessesToClose: 3, InFlight: true}},
		"count":       {Trip: CountWindow{Size: 20, MinCalls: 10}, HalfOpen: Probes{Max: 3}},
		"rate":        {Trip: CountWindow{Size: 20, FailureCount: 5}, HalfOpen: Probes{Max: 4, FailureRate: 0.5}},
		"time":        {Trip: TimeWindow{Length: time.Second, MinCalls: 10, FailureRate: 0.3}, HalfOpen: Probes{Max: 1}, SlowCallDuration: time.Millisecond},
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stress(t, cfg)
		})
	}
}

func stress(t *testing.T, cfg Config) {
	const goroutines, callsEach = 32, 2000
	clk := clocktest.NewFake(time.Time{})
	cfg.Clock = clk
	cfg.OpenDuration = 10 * time.Millisecond
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}

	var (
		successes, failures, ignored, rejections, panics atomic.Uint64
		maxProbes                                        atomic.Int32
		probes                                           sync.Map // *epoch → *atomic.Int32
	)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, seed))
			for i := 0; i < callsEach; i++ {
				r := rng.IntN(100)
				switch { // time passes; now and then an operator intervenes
				case r >= 95:
					clk.Advance(time.Millisecond)
				case r == 94 && rng.IntN(100) == 0:
					b.Reset()
				}
				call := func(ctx context.Context) error {
					runtime.Gosched() // let calls overlap
					switch {
					case r < 30:
						return errStress
					case r < 35:
						return context.Canceled
					case r < 37:
						panic("stress panic")
					}
					return nil
				}
				p, err := b.Allow(context.Background())
				if err != nil {
					if !errors.Is(err, ErrOpen) {
						t.Errorf("rejection error %v does not match ErrOpen", err)
					}
					rejections.Add(1)
					continue
				}
				var held *atomic.Int32 // probe slots of this half-open period
				if e, _ := heldBy(p); e.state == HalfOpen {
					v, _ := probes.LoadOrStore(e, new(atomic.Int32))
					held = v.(*atomic.Int32)
					n := held.Add(1)
					for m := maxProbes.Load(); n > m && !maxProbes.CompareAndSwap(m, n); m = maxProbes.Load() {
					}
					if n > b.s.probes {
						t.Errorf("%d probe slots held, limit %d", n, b.s.probes)
					}
				}
				err = protect(p, call)
				// The slot is given back by the breaker during Done, so it is
				// given back here just before: always when the limit is on
				// probes in flight, per period only by an ignored probe.
				if held != nil && (b.s.inFlight || errors.Is(err, context.Canceled)) {
					held.Add(-1)
				}
				finishOnce(p, err)
				switch {
				case errors.Is(err, errPanicTest):
					panics.Add(1)
				case errors.Is(err, context.Canceled):
					ignored.Add(1)
				case err != nil:
					failures.Add(1)
				default:
					successes.Add(1)
				}
			}
		}(uint64(g))
	}
	wg.Wait()

	m := b.Metrics()
	if m.Successes != successes.Load() || m.Failures != failures.Load()+panics.Load() ||
		m.Ignored != ignored.Load() || m.Rejections != rejections.Load() {
		t.Fatalf("metrics %+v; callers saw %d successes, %d failures, %d panics, %d ignored, %d rejections",
			m, successes.Load(), failures.Load(), panics.Load(), ignored.Load(), rejections.Load())
	}
	if total := m.Calls + m.Rejections; total != goroutines*callsEach {
		t.Fatalf("%d calls accounted for, want %d", total, goroutines*callsEach)
	}
	if m.Trips == 0 || m.Rejections == 0 || maxProbes.Load() == 0 {
		t.Fatalf("the run never exercised every state: %+v, max probes %d", m, maxProbes.Load())
	}
	t.Logf("%+v; max probe slots held %d", m, maxProbes.Load())
}

var errPanicTest = errors.New("call panicked")

// protect runs call for p as Do would, but turns a panic into errPanicTest
// so the stress loop can go on; the permit records the panic as Do does.
func protect(p outcome.Permit, call func(context.Context) error) (err error) {
	defer func() {
		if recover() != nil {
			err = errPanicTest
		}
	}()
	return call(context.Background())
}

// finishOnce reports err on p, recording errPanicTest as Do records a panic.
func finishOnce(p outcome.Permit, err error) {
	if errors.Is(err, errPanicTest) {
		e, ctx := heldBy(p)
		e.b.finish(permit{e.b, e, p.Start}, ctx, failure, ErrPanicked)
		return
	}
	p.Done(err)
}

func TestHalfOpenProbeLimitUnderContention(t *testing.T) {
	for _, limit := range []int{1, 3, 8} {
		clk := clocktest.NewFake(time.Time{})
		b, err := New(Config{Trip: Consecutive(1), HalfOpen: Probes{Max: limit}, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		b.Trip()
		clk.Advance(30 * time.Second)

		const callers = 100
		var arrived, finished sync.WaitGroup
		var admitted, rejected atomic.Int32
		release := make(chan struct{})
		arrived.Add(callers)
		finished.Add(callers)
		for i := 0; i < callers; i++ {
			go func() {
				defer finished.Done()
				err := b.Do(context.Background(), func(context.Context) error {
					admitted.Add(1)
					arrived.Done()
					<-release // hold the probe slot until every caller has tried
					return nil
				})
				if errors.Is(err, ErrOpen) {
					rejected.Add(1)
					arrived.Done()
				}
			}()
		}
		arrived.Wait()
		if got := admitted.Load(); got != int32(limit) {
			t.Fatalf("limit %d: %d probes admitted at once", limit, got)
		}
		close(release)
		finished.Wait()
		if admitted.Load()+rejected.Load() != callers {
			t.Fatalf("limit %d: %d admitted + %d rejected != %d", limit, admitted.Load(), rejected.Load(), callers)
		}
		if b.State() != Closed {
			t.Fatalf("limit %d: state %v after all probes succeeded", limit, b.State())
		}
	}
}

// heldBy returns the epoch a Permit from Allow was admitted in, and the
// call's context it keeps, if it keeps one.
func heldBy(p outcome.Permit) (*epoch, context.Context) {
	switch h := p.Holder.(type) {
	case *epochHolder:
		return (*epoch)(h), nil
	case *contextHolder:
		return h.e, h.ctx
	}
	return nil, nil
}
