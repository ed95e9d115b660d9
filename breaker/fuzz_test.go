package breaker_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
)

// FuzzConfig: any Config gives a working breaker or a *config.Error naming
// a field, never a panic.
func FuzzConfig(f *testing.F) {
	f.Add(int64(3), int64(0), int64(0), int64(0), 0.0, int64(0), int64(0), 0.0, int64(0), 1.0, int64(0), int64(1), int64(0), int64(0), uint8(0), 0.0, int64(0), int64(0))
	f.Add(int64(0), int64(100), int64(0), int64(0), 0.5, int64(10), int64(time.Second), 0.8, int64(time.Minute), 2.0, int64(time.Hour), int64(3), int64(2), int64(time.Minute), uint8(1), 0.0, int64(5), int64(1))
	f.Add(int64(0), int64(0), int64(time.Minute), int64(60), 0.2, int64(20), int64(0), 0.0, int64(1), 1000.0, int64(1<<62), int64(4), int64(0), int64(0), uint8(0), 0.5, int64(0), int64(3))
	f.Fuzz(func(t *testing.T, consec, countWin, timeWin, buckets int64, rate float64, minCalls, slowDur int64, slowRate float64,
		open int64, mult float64, maxOpen, probes, toClose, halfOpenTimeout int64, probeLimit uint8, halfOpenRate float64, failureCount, initial int64) {
		clk := clocktest.NewFake(time.Time{})
		var trip breaker.Trip = breaker.Consecutive(consec)
		switch {
		case countWin != 0:
			trip = breaker.CountWindow{Size: int(countWin), FailureRate: rate, FailureCount: int(failureCount),
				SlowCallRate: slowRate, MinCalls: int(minCalls), ConsecutiveFailures: int(consec)}
		case timeWin != 0:
			trip = breaker.TimeWindow{Length: time.Duration(timeWin), Buckets: int(buckets), FailureRate: rate,
				FailureCount: int(failureCount), SlowCallRate: slowRate, MinCalls: int(minCalls), ConsecutiveFailures: int(consec)}
		}
		cfg := breaker.Config{
			Trip: trip, SlowCallDuration: time.Duration(slowDur),
			OpenDuration: time.Duration(open), OpenDurationMultiplier: mult, MaxOpenDuration: time.Duration(maxOpen),
			HalfOpen: breaker.Probes{Max: int(probes), SuccessesToClose: int(toClose), Timeout: time.Duration(halfOpenTimeout),
				InFlight: probeLimit%2 == 1, FailureRate: halfOpenRate},
			InitialState: breaker.State(initial), Clock: clk,
		}
		b, err := breaker.New(cfg)
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Field == "" || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("New(%+v) = %v: want a *config.Error naming a field", cfg, err)
			}
			return
		}
		again, err := breaker.New(b.Config())
		if err != nil || !reflect.DeepEqual(again.Config(), b.Config()) {
			t.Fatalf("New(%+v).Config() = %+v, which gives %v, %v: want the same breaker", cfg, b.Config(), again, err)
		}
		ctx := context.Background()
		for i := 0; i < 50; i++ {
			_ = b.Do(ctx, func(context.Context) error {
				clk.Advance(time.Duration(i) * time.Millisecond)
				if i%3 == 0 {
					return nil
				}
				return errBoom
			})
			if i%10 == 9 {
				clk.Advance(time.Duration(open))
			}
		}
		b.Trip()
		clk.Advance(time.Duration(maxOpen))
		m := b.Metrics()
		if m.Calls != m.Successes+m.Failures+m.Ignored {
			t.Fatalf("counts do not add up: %+v", m)
		}
	})
}

// FuzzStateMachine drives a breaker and a small reference model of it with
// the same operations (calls, outcomes, releases, panics in the call and in
// every hook, clock moves, Trip/TripFor/HalfOpen/Reset/ForceOpen/Disable)
// and checks after each that the state, the admissions and every counter
// agree, and that a half-open period never admits more probes than allowed,
// for each probe limit and half-open verdict.
func FuzzStateMachine(f *testing.F) {
	f.Add([]byte{2, 1, 1, 0, 3, 0, 1, 0, 3, 0, 1, 6, 200, 0, 1, 3, 0, 0})
	f.Add([]byte{0, 2, 2, 8, 0, 0, 7, 0, 6, 255, 0, 0, 0, 3, 1, 0, 5, 0, 9, 8, 9, 6, 120, 0})
	f.Add([]byte{1, 0, 0, 9, 9, 9, 6, 100, 8, 0, 3, 0, 0, 7, 3, 0, 7, 2, 0, 7, 1, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) < 3 {
			return
		}
		next := func() byte {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return b
		}
		m := &model{threshold: 1 + int(next()%4), probes: 1 + int(next()%3), open: time.Second}
		cfg := breaker.Config{Trip: breaker.Consecutive(m.threshold), HalfOpen: breaker.Probes{Max: m.probes}, OpenDuration: m.open}
		switch mode := next(); mode % 3 {
		case 0: // per period, any failure reopens
			m.toClose = 1 + int(mode/3)%m.probes
		case 1:
			m.inFlight, m.toClose = true, 1+int(mode/3)%3
			cfg.HalfOpen.InFlight = true
		case 2:
			m.rate = 0.5
			cfg.HalfOpen.FailureRate = m.rate
		}
		cfg.HalfOpen.SuccessesToClose = m.toClose
		armed := false // hooks panic while set
		hook := func() {
			if armed {
				panic("hook")
			}
		}
		clk := clocktest.NewFake(time.Time{})
		cfg.Clock = clk
		cfg.Hooks = breaker.Hooks{
			OnStateChange: func(breaker.StateChange) { hook() },
			OnSuccess:     func(context.Context, breaker.CallEvent) { hook() },
			OnFailure:     func(context.Context, breaker.CallEvent) { hook() },
			OnIgnore:      func(context.Context, breaker.CallEvent) { hook() },
			OnReject:      func(context.Context, breaker.RejectEvent) { hook() },
		}
		b, err := breaker.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		type held struct {
			p     outcome.Permit
			epoch int
		}
		var permits []held
		// guarded runs f, absorbing the panics the armed hooks cause.
		guarded := func(f func()) {
			defer func() {
				if r := recover(); r != nil && !armed {
					panic(r)
				}
			}()
			f()
		}
		pick := func() int { return int(next()) % len(permits) }
		outcomes := [...]error{nil, errBoom, context.Canceled}
		for len(ops) > 0 {
			switch op := next() % 10; op {
			case 0, 1, 2: // ask for a permit
				var p outcome.Permit
				err := breaker.ErrOpen // stays so if OnReject panics
				admit := m.admit()
				guarded(func() { p, err = b.Allow(context.Background()) })
				if (err == nil) != admit {
					t.Fatalf("Allow: err %v, model admits %v in %v", err, admit, m.state)
				}
				if err == nil {
					permits = append(permits, held{p, m.epoch})
				}
			case 3, 4, 5: // report a permitted call's outcome, or release it
				if len(permits) == 0 {
					continue
				}
				i := pick()
				h := permits[i]
				permits = append(permits[:i], permits[i+1:]...)
				o := outcomes[int(next())%len(outcomes)]
				if op == 5 {
					o = context.Canceled
					guarded(h.p.Release)
				} else {
					guarded(func() { h.p.Done(o) })
				}
				m.done(h.epoch, o)
			case 6: // time passes
				d := time.Duration(next()) * 10 * time.Millisecond
				guarded(func() { clk.Advance(d) })
				m.advance(d, armed)
			case 7: // an operator
				switch next() % 6 {
				case 0:
					guarded(b.Trip)
					if m.state != breaker.Open { // Trip on an open circuit is no trip
						m.set(breaker.Open)
					}
				case 4:
					d := time.Duration(next()) * 10 * time.Millisecond
					guarded(func() { b.TripFor(d) })
					if d > 0 {
						m.set(breaker.Open)
						m.until = m.now + d
					} else if m.state != breaker.HalfOpen {
						m.set(breaker.HalfOpen)
					}
				case 5:
					guarded(b.HalfOpen)
					if m.state != breaker.HalfOpen {
						m.set(breaker.HalfOpen)
					}
				case 1:
					guarded(b.Reset)
					m.set(breaker.Closed)
				case 2:
					guarded(b.ForceOpen)
					m.set(breaker.ForcedOpen)
				case 3:
					guarded(b.Disable)
					m.set(breaker.Disabled)
				}
			case 8:
				armed = !armed
			case 9: // a call that panics
				admit, epoch := m.admit(), m.epoch
				var ran bool
				func() {
					defer func() { recover() }()
					_ = b.Do(context.Background(), func(context.Context) error { ran = true; panic("call") })
				}()
				if ran != admit {
					t.Fatalf("Do ran %v, model admits %v in %v", ran, admit, m.state)
				}
				if ran {
					m.done(epoch, errBoom)
				}
			}
			m.check(t, b)
		}
	})
}

// model is the reference: what the breaker's doc says, written plainly.
type model struct {
	threshold, probes, toClose int
	inFlight                   bool    // probes bounds the probes in flight, not a period's
	rate                       float64 // > 0: half-open judged by failure rate
	open                       time.Duration

	state  breaker.State
	epoch  int // bumped by every transition, as the breaker's epochs are
	now    time.Duration
	until  time.Duration // open: when it goes half-open
	consec int
	taken  int // half-open: probe slots taken
	passed int
	failed int

	successes, failures, ignored, rejections, trips, changes uint64
}

func (m *model) admit() bool {
	switch m.state {
	case breaker.Closed, breaker.Disabled:
		return true
	case breaker.HalfOpen:
		if m.taken < m.probes {
			m.taken++
			return true
		}
	}
	m.rejections++
	return false
}

func (m *model) done(epoch int, err error) {
	switch {
	case err == nil:
		m.successes++
	case errors.Is(err, context.Canceled):
		m.ignored++
	default:
		m.failures++
	}
	if epoch != m.epoch {
		return // a late outcome lands in its own, past state
	}
	switch m.state {
	case breaker.Closed:
		switch {
		case err == nil:
			m.consec = 0
		case !errors.Is(err, context.Canceled):
			if m.consec++; m.consec >= m.threshold {
				m.set(breaker.Open)
			}
		}
	case breaker.HalfOpen:
		ignored := errors.Is(err, context.Canceled)
		if m.inFlight || ignored {
			m.taken--
		}
		switch {
		case ignored:
		case err == nil:
			m.passed++
		default:
			m.failed++
		}
		limit := m.rate * float64(m.probes)
		switch {
		case ignored:
		case m.rate == 0 && err != nil, m.rate > 0 && float64(m.failed) >= limit:
			m.set(breaker.Open)
		case m.rate == 0 && m.passed >= m.toClose, m.rate > 0 && float64(m.probes-m.passed) < limit:
			m.set(breaker.Closed)
		}
	}
}

func (m *model) advance(d time.Duration, hooksPanic bool) {
	target := m.now + d
	if m.state == breaker.Open && target >= m.until {
		m.now = m.until
		m.set(breaker.HalfOpen)
		if hooksPanic {
			return // the hook's panic stopped the clock at the timer
		}
	}
	m.now = target
}

func (m *model) set(to breaker.State) {
	if to != m.state {
		m.changes++
		if to == breaker.Open {
			m.trips++
		}
	}
	m.state = to
	m.epoch++
	m.consec, m.taken, m.passed, m.failed = 0, 0, 0, 0
	if to == breaker.Open {
		m.until = m.now + m.open
	}
}

func (m *model) check(t *testing.T, b *breaker.Breaker) {
	t.Helper()
	got := b.Metrics()
	if got.State != m.state {
		t.Fatalf("state %v, model %v", got.State, m.state)
	}
	if got.Successes != m.successes || got.Failures != m.failures || got.Ignored != m.ignored ||
		got.Rejections != m.rejections || got.Trips != m.trips || got.StateChanges != m.changes {
		t.Fatalf("metrics %+v, model %+v", got, *m)
	}
	if got.Calls != got.Successes+got.Failures+got.Ignored {
		t.Fatalf("counts do not add up: %+v", got)
	}
	if m.taken > m.probes {
		t.Fatalf("%d probe slots taken, limit %d", m.taken, m.probes)
	}
}
