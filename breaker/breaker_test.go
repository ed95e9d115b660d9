package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/outcome"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
)

var errBoom = errors.New("boom")

func newBreaker(t *testing.T, cfg breaker.Config) (*breaker.Breaker, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.NewFake(time.Time{})
	cfg.Clock = clk
	b, err := breaker.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b, clk
}

func succeed(context.Context) error { return nil }

// run makes one call that returns err and fails the test if the breaker's
// answer is not want.
func run(t *testing.T, b *breaker.Breaker, err error) error {
	t.Helper()
	return b.Do(context.Background(), func(context.Context) error { return err })
}

func wantState(t *testing.T, b *breaker.Breaker, want breaker.State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("state = %v, want %v", got, want)
	}
}

func TestNormalOperationStaysClosed(t *testing.T) {
	b, _ := newBreaker(t, breaker.Config{Name: "api"})
	for i := 0; i < 100; i++ {
		if err := run(t, b, nil); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if i%10 == 0 {
			run(t, b, errBoom) // isolated failures never reach 3 in a row
		}
	}
	wantState(t, b, breaker.Closed)
	m := b.Metrics()
	if m.Successes != 100 || m.Failures != 10 || m.Calls != 110 || m.Trips != 0 {
		t.Fatalf("metrics = %+v", m)
	}
}

func TestOpensAfterThreeConsecutiveFailures(t *testing.T) {
	b, _ := newBreaker(t, breaker.Config{Name: "api"})
	for i := 0; i < 2; i++ {
		run(t, b, errBoom)
		wantState(t, b, breaker.Closed)
	}
	if got := b.Metrics().ConsecutiveFailures; got != 2 {
		t.Fatalf("ConsecutiveFailures = %d, want 2", got)
	}
	if err := run(t, b, errBoom); !errors.Is(err, errBoom) {
		t.Fatalf("third failure returned %v, want the call's own error", err)
	}
	wantState(t, b, breaker.Open)
}

func TestOpenFailsFastWithoutCalling(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{Name: "payments-api"})
	for i := 0; i < 3; i++ {
		run(t, b, errBoom)
	}
	clk.Advance(10 * time.Second)
	called := false
	err := b.Do(context.Background(), func(context.Context) error { called = true; return nil })
	if called {
		t.Fatal("open circuit called the protected function")
	}
	if !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("err = %v, want ErrOpen", err)
	}
	var oe *breaker.OpenError
	if !errors.As(err, &oe) || oe.Name != "payments-api" || oe.State != breaker.Open {
		t.Fatalf("err = %#v, want an *OpenError naming payments-api", err)
	}
	if got := oe.Until.Sub(clk.Now()); got != 20*time.Second {
		t.Fatalf("RetryAfter = %v, want 20s", got)
	}
	if want := `breaker "payments-api": circuit open`; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	m := b.Metrics()
	if m.Rejections != 1 || m.RetryIn != 20*time.Second {
		t.Fatalf("metrics = %+v", m)
	}
}

func TestRecoveryThroughHalfOpen(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{})
	for i := 0; i < 3; i++ {
		run(t, b, errBoom)
	}
	clk.Advance(30*time.Second - time.Nanosecond)
	wantState(t, b, breaker.Open)
	clk.Advance(time.Nanosecond)
	wantState(t, b, breaker.HalfOpen) // by the timer, with no call needed
	if err := run(t, b, nil); err != nil {
		t.Fatalf("probe: %v", err)
	}
	wantState(t, b, breaker.Closed)
}

func TestFailedProbeReopens(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{})
	for i := 0; i < 3; i++ {
		run(t, b, errBoom)
	}
	clk.Advance(30 * time.Second)
	run(t, b, errBoom)
	wantState(t, b, breaker.Open)
	if got := b.Metrics().RetryIn; got != 30*time.Second {
		t.Fatalf("RetryIn = %v, want a fresh 30s", got)
	}
	clk.Advance(30 * time.Second)
	wantState(t, b, breaker.HalfOpen)
}

func TestCountWindow(t *testing.T) {
	tests := []struct {
		name     string
		cfg      breaker.Config
		outcomes string // s: success, f: failure
		want     breaker.State
	}{
		{"below min calls", breaker.Config{Trip: breaker.CountWindow{Size: 10, MinCalls: 5}}, "ffff", breaker.Closed},
		{"min calls reached", breaker.Config{Trip: breaker.CountWindow{Size: 10, MinCalls: 5}}, "ffffs", breaker.Open},
		{"rate below threshold", breaker.Config{Trip: breaker.CountWindow{Size: 4}}, "sfsssfss", breaker.Closed},
		{"rate at threshold", breaker.Config{Trip: breaker.CountWindow{Size: 4}}, "ssff", breaker.Open},
		{"old failures slide out", breaker.Config{Trip: breaker.CountWindow{Size: 4, FailureRate: 0.75}}, "ffsssssf", breaker.Closed},
		{"failures not consecutive", breaker.Config{Trip: breaker.CountWindow{Size: 5, FailureRate: 0.6}}, "fsfsf", breaker.Open},
		{"consecutive as well", breaker.Config{Trip: breaker.CountWindow{Size: 100, ConsecutiveFailures: 2}}, "sff", breaker.Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newBreaker(t, tt.cfg)
			for _, o := range tt.outcomes {
				var err error
				if o == 'f' {
					err = errBoom
				}
				run(t, b, err)
			}
			wantState(t, b, tt.want)
		})
	}
}

func TestCountWindowDoesNotTripOnConsecutiveByDefault(t *testing.T) {
	b, _ := newBreaker(t, breaker.Config{Trip: breaker.CountWindow{Size: 10}})
	for i := 0; i < 5; i++ {
		run(t, b, errBoom)
	}
	wantState(t, b, breaker.Closed)
	m := b.Metrics()
	if m.WindowCalls != 5 || m.FailureRate != 1 {
		t.Fatalf("window: %d calls, rate %v; want 5 calls at rate 1", m.WindowCalls, m.FailureRate)
	}
}

func TestTimeWindowExpiresOldBuckets(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{Trip: breaker.TimeWindow{Length: 10 * time.Second, MinCalls: 4}})
	for i := 0; i < 3; i++ {
		run(t, b, errBoom)
	}
	clk.Advance(10 * time.Second) // the three failures slide out
	if got := b.Metrics().WindowCalls; got != 0 {
		t.Fatalf("WindowCalls after the window passed = %d, want 0", got)
	}
	run(t, b, errBoom)
	wantState(t, b, breaker.Closed) // one failure, below MinCalls
	for i := 0; i < 3; i++ {
		clk.Advance(time.Second)
		run(t, b, errBoom)
	}
	wantState(t, b, breaker.Open)
}

func TestTimeWindowSlidesBucketByBucket(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{Trip: breaker.TimeWindow{Length: 10 * time.Second, Buckets: 10, FailureRate: 0.6, MinCalls: 2}})
	run(t, b, errBoom) // bucket 0
	clk.Advance(5 * time.Second)
	run(t, b, nil) // bucket 5
	if got := b.Metrics().FailureRate; got != 0.5 {
		t.Fatalf("rate = %v, want 0.5", got)
	}
	clk.Advance(5 * time.Second) // bucket 10 reuses bucket 0's slot
	m := b.Metrics()
	if m.WindowCalls != 1 || m.FailureRate != 0 {
		t.Fatalf("after bucket 0 expired: %d calls, rate %v", m.WindowCalls, m.FailureRate)
	}
	clk.Advance(time.Hour) // far past: everything expires at once
	if got := b.Metrics().WindowCalls; got != 0 {
		t.Fatalf("WindowCalls = %d, want 0", got)
	}
}

func TestSlowCalls(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{
		Trip: breaker.CountWindow{Size: 4, SlowCallRate: 0.5}, SlowCallDuration: time.Second,
	})
	slowCall := func(context.Context) error { clk.Advance(2 * time.Second); return nil }
	b.Do(context.Background(), succeed)
	b.Do(context.Background(), slowCall)
	b.Do(context.Background(), succeed)
	wantState(t, b, breaker.Closed)
	if got := b.Metrics().SlowCallRate; got != 1.0/3 {
		t.Fatalf("SlowCallRate = %v, want 1/3", got)
	}
	b.Do(context.Background(), slowCall)
	wantState(t, b, breaker.Open)
	m := b.Metrics()
	if m.SlowCalls != 2 || m.Successes != 4 {
		t.Fatalf("metrics = %+v", m)
	}

	// A slow probe counts as failed.
	clk.Advance(30 * time.Second)
	b.Do(context.Background(), slowCall)
	wantState(t, b, breaker.Open)
}

func TestSlowCallsCountedWithoutWindow(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{SlowCallDuration: time.Second})
	for i := 0; i < 5; i++ {
		b.Do(context.Background(), func(context.Context) error { clk.Advance(time.Second); return nil })
	}
	wantState(t, b, breaker.Closed)
	if got := b.Metrics().SlowCalls; got != 5 {
		t.Fatalf("SlowCalls = %d, want 5", got)
	}
}

func TestSuccessesToClose(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{Trip: breaker.Consecutive(1), HalfOpen: breaker.Probes{InFlight: true, SuccessesToClose: 3}})
	run(t, b, errBoom)
	clk.Advance(30 * time.Second)
	for i := 0; i < 2; i++ {
		run(t, b, nil)
		wantState(t, b, breaker.HalfOpen)
	}
	run(t, b, nil)
	wantState(t, b, breaker.Closed)
}

func TestHalfOpenTimeoutReopensAStuckCircuit(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{Trip: breaker.Consecutive(1), HalfOpen: breaker.Probes{Timeout: 5 * time.Second}})
	run(t, b, errBoom)
	clk.Advance(30 * time.Second)
	if _, err := b.Allow(context.Background()); err != nil { // a probe that never reports back
		t.Fatal(err)
	}
	if err := run(t, b, nil); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("second probe: %v, want ErrOpen while the slot is held", err)
	}
	clk.Advance(5 * time.Second)
	wantState(t, b, breaker.Open)
	clk.Advance(30 * time.Second)
	if err := run(t, b, nil); err != nil {
		t.Fatalf("probe in the next half-open period: %v", err)
	}
	wantState(t, b, breaker.Closed)
}

func TestAllowProbeGatesHalfOpenCalls(t *testing.T) {
	allowed := false
	var asked []string
	b, clk := newBreaker(t, breaker.Config{Name: "shared", Trip: breaker.Consecutive(1), HalfOpen: breaker.Probes{Allow: func(name string) bool {
		asked = append(asked, name)
		return allowed
	}}})
	run(t, b, errBoom)
	clk.Advance(30 * time.Second)
	if err := run(t, b, nil); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("a probe the gate refused ran: %v", err)
	}
	allowed = true
	if err := run(t, b, nil); err != nil {
		t.Fatalf("a probe the gate allowed: %v", err)
	}
	wantState(t, b, breaker.Closed)
	run(t, b, nil) // closed: the gate is not asked
	if len(asked) != 2 || asked[0] != "shared" {
		t.Fatalf("asked %q", asked)
	}
}

func TestGrowingOpenDuration(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{
		Trip:                   breaker.Consecutive(1),
		OpenDuration:           time.Second,
		OpenDurationMultiplier: 2,
		MaxOpenDuration:        5 * time.Second,
	})
	run(t, b, errBoom)
	var got []time.Duration
	for i := 0; i < 5; i++ {
		got = append(got, b.Metrics().RetryIn)
		clk.Advance(b.Metrics().RetryIn)
		wantState(t, b, breaker.HalfOpen)
		run(t, b, errBoom) // the probe fails: trip again
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("open durations = %v, want %v", got, want)
		}
	}
	// Closing resets the growth.
	clk.Advance(5 * time.Second)
	run(t, b, nil)
	run(t, b, errBoom)
	if got := b.Metrics().RetryIn; got != time.Second {
		t.Fatalf("open duration after closing = %v, want 1s", got)
	}
}

type codeError struct{ code int }

func (e *codeError) Error() string { return "status " + string(rune('0'+e.code/100)) + "xx" }

func TestClassification(t *testing.T) {
	errIgnored := errors.New("ignored")
	serverError := func(err error) bool {
		var ce *codeError
		return errors.As(err, &ce) && ce.code >= 500
	}
	tests := []struct {
		name string
		cfg  breaker.Config
		err  error
		want string // "success", "failure" or "ignored"
	}{
		{"nil", breaker.Config{}, nil, "success"},
		{"any error", breaker.Config{}, errBoom, "failure"},
		{"canceled", breaker.Config{}, context.Canceled, "ignored"},
		{"wrapped canceled", breaker.Config{}, errors.Join(errBoom, context.Canceled), "ignored"},
		{"deadline", breaker.Config{}, context.DeadlineExceeded, "failure"},
		{"ignore list", breaker.Config{Ignore: []error{errIgnored}}, errIgnored, "ignored"},
		{"fail-on list", breaker.Config{FailOn: []error{io.EOF}}, io.EOF, "failure"},
		{"not on fail-on list", breaker.Config{FailOn: []error{io.EOF}}, errBoom, "success"},
		{"ignore beats fail-on", breaker.Config{FailOn: []error{io.EOF}, Ignore: []error{io.EOF}}, io.EOF, "ignored"},
		{"predicate as 5xx", breaker.Config{IsFailure: serverError}, &codeError{503}, "failure"},
		{"predicate 4xx", breaker.Config{IsFailure: serverError}, &codeError{404}, "success"},
		{"predicate leaves canceled ignored", breaker.Config{IsFailure: serverError}, context.Canceled, "ignored"},
		{"fail-on canceled", breaker.Config{FailOn: []error{context.Canceled}}, context.Canceled, "failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newBreaker(t, tt.cfg)
			run(t, b, tt.err)
			m := b.Metrics()
			got := map[[3]uint64]string{{1, 0, 0}: "success", {0, 1, 0}: "failure", {0, 0, 1}: "ignored"}[[3]uint64{m.Successes, m.Failures, m.Ignored}]
			if got != tt.want {
				t.Fatalf("counted as %q (metrics %+v), want %q", got, m, tt.want)
			}
		})
	}
}

func TestIgnoredOutcomesDoNotBreakTheRun(t *testing.T) {
	b, _ := newBreaker(t, breaker.Config{})
	run(t, b, errBoom)
	run(t, b, errBoom)
	run(t, b, context.Canceled)
	run(t, b, errBoom)
	wantState(t, b, breaker.Open)
}

func TestIgnoredProbeFreesItsSlot(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{Trip: breaker.Consecutive(1)})
	run(t, b, errBoom)
	clk.Advance(30 * time.Second)
	run(t, b, context.Canceled)
	wantState(t, b, breaker.HalfOpen)
	if err := run(t, b, nil); err != nil {
		t.Fatalf("second probe rejected: %v", err)
	}
	wantState(t, b, breaker.Closed)
}

// A call whose context has ended is not run, and counts as ignored (not
// a rejection), so that Calls still counts every call.
func TestDoneContextIsNotCalledAndCountsIgnored(t *testing.T) {
	b, _ := newBreaker(t, breaker.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := b.Do(ctx, func(context.Context) error { called = true; return nil })
	if called || !errors.Is(err, context.Canceled) {
		t.Fatalf("called=%v err=%v; want not called, context.Canceled", called, err)
	}
	if m := b.Metrics(); m.Calls != 1 || m.Ignored != 1 || m.Rejections != 0 {
		t.Fatalf("metrics = %+v, want one ignored call", m)
	}
}

func TestPanicCountsAsFailureAndPropagates(t *testing.T) {
	var events []breaker.CallEvent
	b, clk := newBreaker(t, breaker.Config{
		Trip:  breaker.Consecutive(1),
		Hooks: breaker.Hooks{OnFailure: func(_ context.Context, e breaker.CallEvent) { events = append(events, e) }},
	})
	clk.Advance(0)
	mustPanic := func(f func()) {
		t.Helper()
		defer func() {
			if r := recover(); r != "kaboom" {
				t.Fatalf("recovered %v, want the original panic value", r)
			}
		}()
		f()
	}
	mustPanic(func() { b.Do(context.Background(), func(context.Context) error { panic("kaboom") }) })
	wantState(t, b, breaker.Open)
	if len(events) != 1 || !errors.Is(events[0].Err, breaker.ErrPanicked) {
		t.Fatalf("failure events = %+v, want one ErrPanicked", events)
	}

	// A panicking probe gives its slot back and reopens the circuit.
	clk.Advance(30 * time.Second)
	mustPanic(func() {
		b.Do(context.Background(), func(context.Context) error { panic("kaboom") })
	})
	wantState(t, b, breaker.Open)
	clk.Advance(30 * time.Second)
	if err := run(t, b, nil); err != nil {
		t.Fatalf("probe after a panicking probe: %v", err)
	}
	wantState(t, b, breaker.Closed)
}

func TestLateResultDoesNotAffectNewState(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{Trip: breaker.Consecutive(1)})
	late, err := b.Allow(context.Background()) // admitted while closed
	if err != nil {
		t.Fatal(err)
	}
	run(t, b, errBoom)
	clk.Advance(30 * time.Second)
	wantState(t, b, breaker.HalfOpen)
	late.Done(errBoom) // reported in half-open, but belongs to the closed epoch
	wantState(t, b, breaker.HalfOpen)
	if err := run(t, b, nil); err != nil { // the probe slot is still free
		t.Fatalf("probe: %v", err)
	}
	wantState(t, b, breaker.Closed)
	if got := b.Metrics().Failures; got != 2 {
		t.Fatalf("Failures = %d, want the late one counted too", got)
	}
}

func TestManualControl(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{})

	b.Trip()
	wantState(t, b, breaker.Open)
	clk.Advance(30 * time.Second)
	wantState(t, b, breaker.HalfOpen)

	b.ForceOpen()
	clk.Advance(time.Hour)
	wantState(t, b, breaker.ForcedOpen)
	err := run(t, b, nil)
	var oe *breaker.OpenError
	if !errors.As(err, &oe) || oe.State != breaker.ForcedOpen || !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("forced open returned %v", err)
	}

	b.Disable()
	for i := 0; i < 10; i++ {
		if err := run(t, b, errBoom); !errors.Is(err, errBoom) {
			t.Fatalf("disabled breaker returned %v", err)
		}
	}
	wantState(t, b, breaker.Disabled)

	b.Reset()
	wantState(t, b, breaker.Closed)
	run(t, b, errBoom)
	run(t, b, errBoom)
	wantState(t, b, breaker.Closed)
	if got := b.Metrics().Failures; got != 12 {
		t.Fatalf("Failures = %d; Reset must keep lifetime counters", got)
	}
}

func TestResetClearsCounts(t *testing.T) {
	b, _ := newBreaker(t, breaker.Config{})
	run(t, b, errBoom)
	run(t, b, errBoom)
	b.Reset()
	run(t, b, errBoom)
	wantState(t, b, breaker.Closed)
}

func TestStateStrings(t *testing.T) {
	for s, want := range map[breaker.State]string{
		breaker.Closed: "closed", breaker.Open: "open", breaker.HalfOpen: "half-open",
		breaker.ForcedOpen: "forced-open", breaker.Disabled: "disabled", breaker.State(9): "state(9)",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", s, got, want)
		}
		if s > breaker.Disabled {
			continue
		}
		var back breaker.State
		text, _ := s.MarshalText()
		if err := back.UnmarshalText(text); err != nil || back != s {
			t.Errorf("round trip of %v gave %v, %v", s, back, err)
		}
	}
	var s breaker.State
	if err := s.UnmarshalText([]byte("ajar")); err == nil {
		t.Error("UnmarshalText accepted an unknown state")
	}
}

func TestMetricsTimeInState(t *testing.T) {
	b, clk := newBreaker(t, breaker.Config{})
	clk.Advance(time.Minute)
	if got := b.Metrics().TimeInState; got != time.Minute {
		t.Fatalf("TimeInState = %v, want 1m", got)
	}
	b.Trip()
	clk.Advance(5 * time.Second)
	m := b.Metrics()
	if m.TimeInState != 5*time.Second || m.RetryIn != 25*time.Second || m.Trips != 1 || m.StateChanges != 1 {
		t.Fatalf("metrics = %+v", m)
	}
}

// innerRejection is what a policy inside the breaker returns when it
// turns a call away before it reaches the dependency.
type innerRejection struct{}

func (innerRejection) Error() string  { return "bulkhead full" }
func (innerRejection) Rejected() bool { return true }

func TestRejectionsInsideTheBreakerAreIgnored(t *testing.T) {
	b, err := breaker.New(breaker.Config{Trip: breaker.Consecutive(1)})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b.Do(context.Background(), func(context.Context) error { return fmt.Errorf("layer: %w", innerRejection{}) })
	}
	if m := b.Metrics(); b.State() != breaker.Closed || m.Ignored != 5 || m.Failures != 0 {
		t.Errorf("state %v, %d ignored, %d failures; want closed, 5, 0", b.State(), m.Ignored, m.Failures)
	}
	claimed, _ := breaker.New(breaker.Config{Trip: breaker.Consecutive(1), IsFailure: func(error) bool { return true }})
	claimed.Do(context.Background(), func(context.Context) error { return innerRejection{} })
	if claimed.State() != breaker.Open {
		t.Errorf("a rejection IsFailure claims left the circuit %v, want open", claimed.State())
	}
}

func TestFailuresAllocateNothing(t *testing.T) {
	b, err := breaker.New(breaker.Config{Trip: breaker.Consecutive(1_000_000)})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []error{errBoom, innerRejection{}, outcome.Mark(errBoom, outcome.Ignored)} {
		fn := func(context.Context) error { return e }
		if n := testing.AllocsPerRun(100, func() { _ = b.Do(context.Background(), fn) }); n != 0 {
			t.Errorf("a call failing with %v allocates %v times", e, n)
		}
	}
}
