package breaker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
)

// Upper bounds of Config's count fields. They bound the memory a breaker
// allocates (a count window keeps one byte per call, a time window 24
// bytes per bucket). Durations may be any non-negative value: the
// arithmetic on them saturates.
const (
	// maxCount bounds every count: Consecutive, a window's Size, MinCalls,
	// FailureCount and ConsecutiveFailures, and Probes.Max and
	// Probes.SuccessesToClose.
	maxCount = 1_000_000
	// maxTimeWindowBuckets bounds TimeWindow.Buckets.
	maxTimeWindowBuckets = 1000
)

// Config describes a circuit breaker. The zero Config is a valid breaker
// with the defaults: it trips after 3 consecutive failures, stays open for
// 30 s, then lets one probe through, whose success closes it again.
//
// A Config is a plain value: it can be printed, compared and loaded from a
// service's own configuration file. Its knobs come in groups that cannot
// contradict each other: what trips the circuit is one choice (Trip), and
// the half-open state is one group (HalfOpen). New checks it once and
// returns a *config.Error naming the first field that is out of range.
// Breaker.Config returns it with every default filled in.
type Config struct {
	// Name identifies the breaker in errors, events and metrics.
	Name string

	// Trip is what opens the closed circuit: Consecutive failures in a
	// row, the failure or slow-call rate of a CountWindow or a TimeWindow,
	// or a TripFunc. Nil means Consecutive(3).
	Trip Trip

	// SlowCallDuration, when positive, marks a call that takes at least this
	// long as slow. Slow calls are counted in the metrics; with a window,
	// they can trip the circuit through its SlowCallRate; and a slow probe
	// in the half-open state counts as failed, window or not.
	SlowCallDuration time.Duration

	// OpenDuration is how long the circuit stays open before it lets probes
	// through. Zero means 30 s.
	OpenDuration time.Duration
	// OpenDurationMultiplier grows the open duration each time the circuit
	// trips again without having closed: the n-th trip in a row stays open
	// OpenDuration × OpenDurationMultiplier^(n-1), capped at
	// MaxOpenDuration. Zero means 1 (a constant open duration).
	OpenDurationMultiplier float64
	// MaxOpenDuration caps a growing open duration. Zero means the larger
	// of OpenDuration and 5 minutes.
	MaxOpenDuration time.Duration
	// OpenDurationFunc, when set, is asked how long each automatic trip
	// keeps the circuit open, with the error of the call that tripped it
	// (nil for a trip by slow calls): RetryAfter, for one, opens the
	// circuit for as long as the server asked with a 429's or 503's
	// Retry-After. A positive result is the open duration, capped at
	// MaxOpenDuration; zero or less keeps the configured one (OpenDuration,
	// grown by OpenDurationMultiplier). It is not asked for the manual
	// trips (Trip, TripFor). It runs on the caller's goroutine;
	// if it panics, the circuit trips with the configured duration and the
	// panic goes on.
	OpenDurationFunc func(err error) time.Duration

	// HalfOpen says how the half-open state probes the dependency and
	// decides. The zero value lets one probe through, whose success
	// closes the circuit and whose failure reopens it.
	HalfOpen Probes

	// Shadow runs the breaker in shadow mode (resilience4j's metrics-only
	// state), to roll a breaker out safely: it counts, changes state, calls
	// its hooks and reports its metrics exactly as an enforcing breaker
	// would, but never turns a call away. A call it would have rejected is
	// counted in Metrics.Rejections, reported to OnReject with Shadow set,
	// and then run, unrecorded (the enforcing breaker would not have seen
	// its outcome). Gate reports no rejection. ForceOpen is an operator's
	// explicit order and is enforced even in shadow mode.
	Shadow bool
	// InitialState is the state a new breaker starts in: Closed (the zero
	// value), Open (for OpenDuration, as after a trip, though no trip is
	// counted), ForcedOpen or Disabled.
	InitialState State

	// IsFailure, when set, decides whether an error counts as a failure;
	// errors it rejects count as successes. It can use errors.As.
	IsFailure func(err error) bool
	// FailOn lists errors that count as failures (matched with errors.Is).
	// When FailOn or IsFailure is set, other errors count as successes.
	FailOn []error
	// Ignore lists errors that count as neither success nor failure
	// (matched with errors.Is). Ignore wins over FailOn and IsFailure.
	// Besides those, context.Canceled and the rejections of policies inside
	// the breaker (a bulkhead, limiter or throttle turning the call away
	// before it reached the dependency) count as neither, unless FailOn or
	// IsFailure claims them.
	Ignore []error

	// Clock is the time source. Nil means clock.System.
	Clock clock.Clock
	// Hooks are called on state changes and call outcomes.
	Hooks Hooks
}

// Trip is the condition that opens a closed circuit: one of Consecutive,
// CountWindow, TimeWindow or TripFunc. Each holds only its own knobs, so
// a condition cannot be half of one and half of another.
type Trip interface {
	apply(s *settings) error
}

// Consecutive trips the circuit after this many failures in a row
// (gobreaker's default condition, Polly's and failsafe-go's simplest).
// Consecutive(0) means 3.
type Consecutive int

// CountWindow keeps the outcomes of the last Size calls and trips the
// circuit on their failure or slow-call rate (resilience4j's COUNT_BASED
// window).
type CountWindow struct {
	// Size is the number of calls the window holds, in [1, 1,000,000].
	Size int
	// FailureRate trips the circuit when the share of failures in the
	// window reaches it, in (0, 1]. Zero means 0.5, unless FailureCount or
	// Func is set (then the rate is not checked).
	FailureRate float64
	// FailureCount, when positive, trips the circuit when the window holds
	// at least this many failures, whatever their share. MinCalls does not
	// apply to it.
	FailureCount int
	// SlowCallRate trips the circuit when the share of slow calls in the
	// window reaches it, in (0, 1]. It needs Config.SlowCallDuration; zero
	// means 1 when that is set.
	SlowCallRate float64
	// MinCalls is the number of calls the window must hold before its
	// rates are acted on, at most Size. Zero means Size.
	MinCalls int
	// ConsecutiveFailures, when positive, also trips the circuit after
	// this many failures in a row, whatever the window holds.
	ConsecutiveFailures int
	// Func, when set, alone decides (gobreaker's ReadyToTrip), with the
	// window's counts: the thresholds above must then be zero. See
	// TripFunc.
	Func func(Counts) bool
}

// TimeWindow keeps the outcomes of the calls made in the last Length, in
// Buckets buckets of equal width, and trips the circuit on their failure
// or slow-call rate (resilience4j's TIME_BASED window; failsafe-go's
// failure threshold within a period with FailureCount). Memory is fixed:
// it does not grow with traffic.
type TimeWindow struct {
	// Length is the time the window covers; it must be positive.
	Length time.Duration
	// Buckets is the number of buckets, in [0, 1,000]; the
	// window slides one bucket at a time. Zero means 10.
	Buckets int
	// FailureRate trips the circuit when the share of failures in the
	// window reaches it, in (0, 1]. Zero means 0.5, unless FailureCount or
	// Func is set (then the rate is not checked).
	FailureRate float64
	// FailureCount, when positive, trips the circuit when the window holds
	// at least this many failures, whatever their share. MinCalls does not
	// apply to it.
	FailureCount int
	// SlowCallRate trips the circuit when the share of slow calls in the
	// window reaches it, in (0, 1]. It needs Config.SlowCallDuration; zero
	// means 1 when that is set.
	SlowCallRate float64
	// MinCalls is the number of calls the window must hold before its
	// rates are acted on. Zero means 20.
	MinCalls int
	// ConsecutiveFailures, when positive, also trips the circuit after
	// this many failures in a row, whatever the window holds.
	ConsecutiveFailures int
	// Func, when set, alone decides (gobreaker's ReadyToTrip), with the
	// window's counts: the thresholds above must then be zero. See
	// TripFunc.
	Func func(Counts) bool
}

// TripFunc alone decides when the closed circuit trips, without a window
// (gobreaker's ReadyToTrip): it is asked after each failure or slow call,
// with the counts at that moment, and true trips the circuit. It runs on
// the caller's goroutine and must not block; if it panics, the outcome
// stays recorded and the panic goes on.
type TripFunc func(Counts) bool

// Probes is the half-open state's group of knobs.
type Probes struct {
	// Max is the number of probe calls one half-open period lets through,
	// in all: once that many probes have been admitted, further calls are
	// turned away until the probes' verdict moves the circuit
	// (gobreaker's MaxRequests and resilience4j's permitted calls in
	// half-open count the same way). A probe whose outcome is ignored
	// (context.Canceled, Permit.Release) gives its slot back. With
	// InFlight, it bounds the probes running at the same time instead.
	// Zero means 1.
	Max int
	// InFlight makes Max bound the probes running at the same time: once
	// one has finished, another may start, so a long half-open period can
	// send more than Max probes.
	InFlight bool
	// SuccessesToClose is the number of successful probes that close the
	// circuit. Zero means Max. Without InFlight it cannot exceed Max.
	SuccessesToClose int
	// FailureRate, when positive, judges the half-open period by rate, in
	// (0, 1], like resilience4j: the circuit reopens once the failed (or
	// slow) probes are at least this share of Max, and closes once they
	// can no longer reach it. Zero means that any failed probe reopens the
	// circuit and SuccessesToClose successes close it (gobreaker, Polly).
	// It cannot be set with InFlight or SuccessesToClose.
	FailureRate float64
	// Timeout, when positive, reopens a circuit that is still half-open
	// after this long, so probes that never report back (a hung call, a
	// Permit whose Done is never called) cannot hold it half-open for
	// ever. Zero means no limit.
	Timeout time.Duration
	// Allow, when set, is asked before each probe, with the breaker's
	// name; false turns the call away as if every probe slot were taken.
	// It lets a shared store limit probes across processes. It is called
	// on the caller's goroutine and must not block.
	Allow func(name string) bool
}

func invalid(field, format string, args ...any) error {
	return &config.Error{Package: "breaker", Field: field, Reason: fmt.Sprintf(format, args...)}
}

// settings is a Config with its defaults applied, checked.
type settings struct {
	config      Config // with its defaults, for Breaker.Config
	name        string
	consecutive int64 // 0: off

	countWindow int
	timeWindow  time.Duration
	buckets     int
	failureRate float64
	minCalls    int

	slowCall time.Duration
	slowRate float64 // 0: slow calls do not trip

	open, maxOpen time.Duration
	multiplier    float64

	probes, toClose int32
	inFlight        bool    // probes bounds the probes in flight, not per period
	halfOpenRate    float64 // 0: any failed probe reopens
	halfOpenTimeout time.Duration

	openFor      func(error) time.Duration
	readyToTrip  func(Counts) bool
	failureCount int
	shadow       bool

	isFailure func(error) bool
	failOn    []error
	ignore    []error

	allowProbe func(string) bool
	clock      clock.Clock
	hooks      Hooks
	timed      bool // calls are timed: for slow calls or call hooks
	// keepContext: hooks are given the call's context (call hooks, and a
	// state change's), which a Permit from Allow keeps for its Done.
	keepContext bool
	plain       bool // a closed-state success needs nothing but counting
}

func (c Config) settings() (settings, error) {
	s := settings{
		name:       c.Name,
		slowCall:   c.SlowCallDuration,
		open:       c.OpenDuration,
		maxOpen:    c.MaxOpenDuration,
		multiplier: c.OpenDurationMultiplier,
		isFailure:  c.IsFailure,
		failOn:     c.FailOn,
		ignore:     c.Ignore,
		openFor:    c.OpenDurationFunc,
		shadow:     c.Shadow,
		clock:      clock.Or(c.Clock),
		hooks:      c.Hooks,
	}
	switch {
	case c.SlowCallDuration < 0:
		return s, invalid("SlowCallDuration", "must not be negative, got %v", c.SlowCallDuration)
	case c.OpenDuration < 0:
		return s, invalid("OpenDuration", "must not be negative, got %v", c.OpenDuration)
	case c.OpenDurationMultiplier != 0 && !(c.OpenDurationMultiplier >= 1 && c.OpenDurationMultiplier <= 1000):
		return s, invalid("OpenDurationMultiplier", "must be in [1, 1000], got %v", c.OpenDurationMultiplier)
	case c.MaxOpenDuration < 0:
		return s, invalid("MaxOpenDuration", "must not be negative, got %v", c.MaxOpenDuration)
	case c.InitialState != Closed && c.InitialState != Open && c.InitialState != ForcedOpen && c.InitialState != Disabled:
		return s, invalid("InitialState", "must be closed, open, forced-open or disabled, got %v", c.InitialState)
	}
	for i, err := range c.FailOn {
		if err == nil {
			return s, invalid(fmt.Sprintf("FailOn[%d]", i), "is nil")
		}
	}
	for i, err := range c.Ignore {
		if err == nil {
			return s, invalid(fmt.Sprintf("Ignore[%d]", i), "is nil")
		}
	}
	if c.Trip == nil {
		c.Trip = Consecutive(0)
	}
	if err := c.Trip.apply(&s); err != nil {
		return s, err
	}
	if err := c.HalfOpen.apply(&s); err != nil {
		return s, err
	}
	if s.open == 0 {
		s.open = 30 * time.Second
	}
	if s.multiplier == 0 {
		s.multiplier = 1
	}
	if s.maxOpen == 0 {
		s.maxOpen = max(s.open, 5*time.Minute)
	} else if s.maxOpen < s.open {
		return s, invalid("MaxOpenDuration", "must not be below OpenDuration (%v), got %v", s.open, s.maxOpen)
	}
	s.minCalls = max(s.minCalls, 1) // no rate over no calls
	h := c.Hooks
	windowed := s.countWindow > 0 || s.timeWindow > 0
	s.timed = s.slowCall > 0 || h.OnSuccess != nil || h.OnFailure != nil || h.OnIgnore != nil
	s.keepContext = h.OnSuccess != nil || h.OnFailure != nil || h.OnIgnore != nil || h.OnStateChange != nil
	s.plain = !s.timed && !windowed

	s.config = c.withDefaults(&s)
	return s, nil
}

// withDefaults returns c with every default filled in from s: given to
// New, it makes the same breaker.
func (c Config) withDefaults(s *settings) Config {
	c.OpenDuration, c.OpenDurationMultiplier, c.MaxOpenDuration = s.open, s.multiplier, s.maxOpen
	switch t := c.Trip.(type) {
	case Consecutive:
		c.Trip = Consecutive(s.consecutive)
	case CountWindow:
		if t.Func != nil {
			break
		}
		t.FailureRate, t.SlowCallRate, t.MinCalls = s.failureRate, s.slowRate, s.minCalls
		c.Trip = t
	case TimeWindow:
		t.Buckets = s.buckets
		if t.Func == nil {
			t.FailureRate, t.SlowCallRate, t.MinCalls = s.failureRate, s.slowRate, s.minCalls
		}
		c.Trip = t
	}
	c.HalfOpen.Max = int(s.probes)
	if s.halfOpenRate == 0 {
		c.HalfOpen.SuccessesToClose = int(s.toClose)
	}
	return c
}

func (n Consecutive) apply(s *settings) error {
	if n < 0 || n > maxCount {
		return invalid("Trip", "Consecutive must be in [0, %d], got %d", maxCount, int(n))
	}
	if n == 0 {
		n = 3
	}
	s.consecutive = int64(n)
	return nil
}

func (f TripFunc) apply(s *settings) error {
	if f == nil {
		return invalid("Trip", "is a nil TripFunc")
	}
	s.readyToTrip = f
	return nil
}

func (w CountWindow) apply(s *settings) error {
	if w.Size < 1 || w.Size > maxCount {
		return invalid("Trip.Size", "must be in [1, %d], got %d", maxCount, w.Size)
	}
	if w.MinCalls > w.Size {
		return invalid("Trip.MinCalls", "must not exceed Size (%d), got %d", w.Size, w.MinCalls)
	}
	if w.FailureCount > w.Size {
		return invalid("Trip.FailureCount", "must not exceed Size (%d), got %d", w.Size, w.FailureCount)
	}
	s.countWindow = w.Size
	return rates{w.FailureRate, w.FailureCount, w.SlowCallRate, w.MinCalls, w.ConsecutiveFailures, w.Func}.apply(s, w.Size)
}

func (w TimeWindow) apply(s *settings) error {
	switch {
	case w.Length <= 0:
		return invalid("Trip.Length", "must be positive, got %v", w.Length)
	case w.Buckets < 0 || w.Buckets > maxTimeWindowBuckets:
		return invalid("Trip.Buckets", "must be in [0, %d], got %d", maxTimeWindowBuckets, w.Buckets)
	}
	s.timeWindow, s.buckets = w.Length, w.Buckets
	if s.buckets == 0 {
		s.buckets = 10
	}
	if time.Duration(s.buckets) > w.Length {
		return invalid("Trip.Buckets", "%d buckets do not fit in a Length of %v", s.buckets, w.Length)
	}
	return rates{w.FailureRate, w.FailureCount, w.SlowCallRate, w.MinCalls, w.ConsecutiveFailures, w.Func}.apply(s, 20)
}

// rates are the thresholds the two windows share.
type rates struct {
	failureRate  float64
	failureCount int
	slowRate     float64
	minCalls     int
	consecutive  int
	fn           func(Counts) bool
}

func (r rates) apply(s *settings, minCalls int) error {
	switch {
	case !rateOK(r.failureRate):
		return invalid("Trip.FailureRate", "must be in [0, 1], got %v", r.failureRate)
	case r.failureCount < 0 || r.failureCount > maxCount:
		return invalid("Trip.FailureCount", "must be in [0, %d], got %d", maxCount, r.failureCount)
	case !rateOK(r.slowRate):
		return invalid("Trip.SlowCallRate", "must be in [0, 1], got %v", r.slowRate)
	case r.slowRate > 0 && s.slowCall == 0:
		return invalid("Trip.SlowCallRate", "needs SlowCallDuration")
	case r.minCalls < 0 || r.minCalls > maxCount:
		return invalid("Trip.MinCalls", "must be in [0, %d], got %d", maxCount, r.minCalls)
	case r.consecutive < 0 || r.consecutive > maxCount:
		return invalid("Trip.ConsecutiveFailures", "must be in [0, %d], got %d", maxCount, r.consecutive)
	case r.fn != nil && (r.failureRate > 0 || r.failureCount > 0 || r.slowRate > 0 || r.minCalls > 0 || r.consecutive > 0):
		return invalid("Trip.Func", "cannot be set together with FailureRate, FailureCount, SlowCallRate, MinCalls or ConsecutiveFailures")
	}
	s.failureRate, s.failureCount, s.slowRate, s.minCalls = r.failureRate, r.failureCount, r.slowRate, r.minCalls
	s.consecutive, s.readyToTrip = int64(r.consecutive), r.fn
	if r.fn != nil {
		return nil
	}
	if s.failureRate == 0 && s.failureCount == 0 {
		s.failureRate = 0.5
	}
	if s.slowCall > 0 && s.slowRate == 0 {
		s.slowRate = 1
	}
	if s.minCalls == 0 {
		s.minCalls = minCalls
	}
	return nil
}

func (p Probes) apply(s *settings) error {
	switch {
	case p.Max < 0 || p.Max > maxCount:
		return invalid("HalfOpen.Max", "must be in [0, %d], got %d", maxCount, p.Max)
	case p.SuccessesToClose < 0 || p.SuccessesToClose > maxCount:
		return invalid("HalfOpen.SuccessesToClose", "must be in [0, %d], got %d", maxCount, p.SuccessesToClose)
	case !p.InFlight && p.SuccessesToClose > max(p.Max, 1):
		return invalid("HalfOpen.SuccessesToClose", "must not exceed the probes of a period (Max %d), got %d",
			max(p.Max, 1), p.SuccessesToClose)
	case !rateOK(p.FailureRate):
		return invalid("HalfOpen.FailureRate", "must be in [0, 1], got %v", p.FailureRate)
	case p.FailureRate > 0 && p.InFlight:
		return invalid("HalfOpen.FailureRate", "cannot be set together with InFlight")
	case p.FailureRate > 0 && p.SuccessesToClose > 0:
		return invalid("HalfOpen.FailureRate", "cannot be set together with SuccessesToClose")
	case p.Timeout < 0:
		return invalid("HalfOpen.Timeout", "must not be negative, got %v", p.Timeout)
	}
	s.probes, s.toClose = int32(max(p.Max, 1)), int32(p.SuccessesToClose)
	if s.toClose == 0 {
		s.toClose = s.probes
	}
	s.inFlight, s.halfOpenRate, s.halfOpenTimeout, s.allowProbe = p.InFlight, p.FailureRate, p.Timeout, p.Allow
	return nil
}

func rateOK(r float64) bool { return r >= 0 && r <= 1 } // false for NaN

// RetryAfter returns the delay a server asked for that err carries: the
// RetryAfter method's of the first error in err's tree that has one (as
// outcome.After's errors, and those of bwhttp and bwgrpc for a 429, a 503 or
// a gRPC pushback, do), or zero. As a Config.OpenDurationFunc, it keeps a
// circuit open for as long as the server said.
func RetryAfter(err error) time.Duration {
	d, _ := outcome.RetryAfter(err)
	return d
}

// openDuration returns how long the trips-th trip in a row stays open.
func (s *settings) openDuration(trips int) time.Duration {
	d := float64(s.open) * math.Pow(s.multiplier, float64(trips-1))
	if d >= float64(s.maxOpen) {
		return s.maxOpen
	}
	return time.Duration(d)
}

// verdict is how a call counts for the breaker; the names below are the
// package's own short ones.
type verdict = outcome.Verdict

const (
	success = outcome.Success
	failure = outcome.Failure
	ignored = outcome.Ignored
)

// classify decides how err counts, in this order: nil is a success; an
// error's own Verdict decides (Overloaded is ignored: a dependency that
// sheds is alive); an error in Ignore is ignored; an error in FailOn or accepted by IsFailure is
// a failure; context.Canceled (the caller gave up) and a rejection by a
// policy inside the breaker (a bulkhead full, a throttle, another circuit
// open: an error with a Rejected() bool method saying true, which never
// reached the dependency) are ignored; any other
// error is a failure, unless FailOn or IsFailure is set, in which case it is
// a success.
func (s *settings) classify(err error) verdict {
	if err == nil {
		return success
	}
	if v, ok := outcome.VerdictOf(err); ok {
		if v == outcome.Overloaded { // shedding, not broken
			return ignored
		}
		return v
	}
	for _, target := range s.ignore {
		if errors.Is(err, target) {
			return ignored
		}
	}
	for _, target := range s.failOn {
		if errors.Is(err, target) {
			return failure
		}
	}
	if s.isFailure != nil && s.isFailure(err) {
		return failure
	}
	if errors.Is(err, context.Canceled) || outcome.Rejected(err) {
		return ignored
	}
	if s.isFailure != nil || len(s.failOn) > 0 {
		return success
	}
	return failure
}
