package breaker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/outcome"
)

// Defaults applied to the zero fields of a Config.
const (
	DefaultConsecutiveFailures = 3
	DefaultOpenDuration        = 30 * time.Second
	DefaultHalfOpenProbes      = 1
	DefaultFailureRate         = 0.5
	DefaultSlowCallRate        = 1.0
	DefaultTimeWindowBuckets   = 10
	DefaultTimeWindowMinCalls  = 20
	DefaultMaxOpenDuration     = 5 * time.Minute
)

// Upper bounds of Config's count fields. They bound the memory a breaker
// allocates (a count window keeps one byte per call, a time window 24
// bytes per bucket). Durations may be any non-negative value: the
// arithmetic on them saturates.
const (
	// MaxCount bounds ConsecutiveFailures, CountWindow, MinCalls,
	// HalfOpenProbes and SuccessesToClose.
	MaxCount = 1_000_000
	// MaxTimeWindowBuckets bounds TimeWindowBuckets.
	MaxTimeWindowBuckets = 1000
)

// Config describes a circuit breaker. The zero Config is a valid breaker
// with the defaults: it trips after 3 consecutive failures, stays open for
// 30 s, then lets one probe through, whose success closes it again.
//
// A Config is a plain value: it can be printed, compared and loaded from a
// service's own configuration file. New checks it once and returns a
// *ConfigError naming the first field that is out of range.
type Config struct {
	// Name identifies the breaker in errors, events and metrics.
	Name string

	// ConsecutiveFailures trips the circuit after this many failures in a
	// row while it is closed. Zero means 3 when no window is set, and off
	// when CountWindow or TimeWindow is set (the failure rate decides).
	ConsecutiveFailures int

	// CountWindow, when positive, keeps the outcomes of the last CountWindow
	// calls and trips the circuit on their failure or slow-call rate.
	CountWindow int
	// TimeWindow, when positive, keeps the outcomes of the calls made in the
	// last TimeWindow, in TimeWindowBuckets buckets of equal width, and trips
	// on their rate. Memory is fixed: it does not grow with traffic. At most
	// one of CountWindow and TimeWindow may be set.
	TimeWindow time.Duration
	// TimeWindowBuckets is the number of buckets of a TimeWindow. The window
	// slides one bucket at a time. Zero means 10.
	TimeWindowBuckets int
	// FailureRate trips the circuit when the share of failures in the window
	// reaches it, in (0, 1]. Zero means 0.5. It needs a window.
	FailureRate float64
	// MinCalls is the number of calls the window must hold before its rates
	// are acted on. Zero means CountWindow for a count window and 20 for a
	// time window.
	MinCalls int

	// SlowCallDuration, when positive, marks a call that takes at least this
	// long as slow. Slow calls are counted in the metrics; with a window,
	// they can trip the circuit through SlowCallRate; and a slow probe in
	// the half-open state counts as failed, window or not.
	SlowCallDuration time.Duration
	// SlowCallRate trips the circuit when the share of slow calls in the
	// window reaches it, in (0, 1]. Zero means 1 when SlowCallDuration and a
	// window are set. A slow probe in the half-open state counts as failed.
	SlowCallRate float64

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

	// HalfOpenProbes is the number of probe calls one half-open period lets
	// through, in all: once that many probes have been admitted, further
	// calls are turned away until the probes' verdict moves the circuit
	// (gobreaker's MaxRequests and resilience4j's permitted calls in
	// half-open count the same way). A probe whose outcome is ignored
	// (context.Canceled, Permit.Release) gives its slot back. With
	// ProbeLimit set to ProbesInFlight, it bounds the probes running at
	// the same time instead. Zero means 1.
	HalfOpenProbes int
	// ProbeLimit says what HalfOpenProbes bounds. The zero value,
	// ProbesPerPeriod, bounds the probes of a half-open period.
	ProbeLimit ProbeLimit
	// SuccessesToClose is the number of successful probes that close the
	// circuit. Zero means HalfOpenProbes. With ProbesPerPeriod it cannot
	// exceed HalfOpenProbes.
	SuccessesToClose int
	// HalfOpenFailureRate, when positive, judges the half-open period by
	// rate, in (0, 1], like resilience4j: the circuit reopens once the
	// failed (or slow) probes are at least this share of HalfOpenProbes,
	// and closes once they can no longer reach it. Zero means that any
	// failed probe reopens the circuit and SuccessesToClose successes close
	// it (gobreaker, Polly). It needs ProbesPerPeriod, and SuccessesToClose
	// unset.
	HalfOpenFailureRate float64
	// HalfOpenTimeout, when positive, reopens a circuit that is still
	// half-open after this long, so probes that never report back (a hung
	// call, a Permit whose Done is never called) cannot hold it half-open
	// for ever. Zero means no limit.
	HalfOpenTimeout time.Duration

	// OpenDurationFunc, when set, is asked how long each automatic trip
	// keeps the circuit open, with the error of the call that tripped it
	// (nil for a trip by slow calls): RetryAfter, for one, opens the
	// circuit for as long as the server asked with a 429's or 503's
	// Retry-After. A positive result is the open duration, capped at
	// MaxOpenDuration; zero or less keeps the configured one (OpenDuration,
	// grown by OpenDurationMultiplier). It is not asked for the manual
	// trips (Trip, TripFor, TripUntil). It runs on the caller's goroutine;
	// if it panics, the circuit trips with the configured duration and the
	// panic goes on.
	OpenDurationFunc func(err error) time.Duration

	// ReadyToTrip, when set, alone decides when the closed circuit trips
	// (gobreaker's ReadyToTrip): it is asked after each failure or slow
	// call, with the counts at that moment, and true trips the circuit.
	// ConsecutiveFailures, FailureRate, FailureCount, SlowCallRate and
	// MinCalls must then be zero. It runs on the caller's goroutine and must
	// not block; if it panics, the outcome stays recorded and the panic
	// goes on.
	ReadyToTrip func(Counts) bool
	// FailureCount, when positive, trips the circuit when the window holds
	// at least this many failures, whatever their share (failsafe-go's
	// failure threshold within a period, with TimeWindow as the period).
	// It needs a window; MinCalls does not apply to it. With FailureCount
	// set, FailureRate is off unless set.
	FailureCount int

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

	// AllowProbe, when set, is asked before each half-open probe, with the
	// breaker's name; false turns the call away as if every probe slot were
	// taken. It lets a shared store limit probes across processes. It is
	// called on the caller's goroutine and must not block.
	AllowProbe func(name string) bool

	// Clock is the time source. Nil means clock.System.
	Clock clock.Clock
	// Hooks are called on state changes and call outcomes.
	Hooks Hooks
}

// ErrInvalidConfig is matched by every *ConfigError.
var ErrInvalidConfig = errors.New("breaker: invalid config")

// ConfigError reports a Config field that is out of range.
type ConfigError struct {
	Field  string // the Config field, e.g. "FailureRate"
	Reason string // what is wrong with it
}

func (e *ConfigError) Error() string {
	return "breaker: invalid Config." + e.Field + ": " + e.Reason
}

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

func invalid(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// settings is a Config with its defaults applied, checked.
type settings struct {
	config      Config // as given, for Breaker.Config
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
	plain      bool // a closed-state success needs nothing but counting
}

func (c Config) settings() (settings, error) {
	s := settings{
		config:          c,
		name:            c.Name,
		countWindow:     c.CountWindow,
		timeWindow:      c.TimeWindow,
		buckets:         c.TimeWindowBuckets,
		failureRate:     c.FailureRate,
		minCalls:        c.MinCalls,
		slowCall:        c.SlowCallDuration,
		slowRate:        c.SlowCallRate,
		open:            c.OpenDuration,
		maxOpen:         c.MaxOpenDuration,
		multiplier:      c.OpenDurationMultiplier,
		halfOpenTimeout: c.HalfOpenTimeout,
		isFailure:       c.IsFailure,
		failOn:          c.FailOn,
		ignore:          c.Ignore,
		allowProbe:      c.AllowProbe,
		inFlight:        c.ProbeLimit == ProbesInFlight,
		halfOpenRate:    c.HalfOpenFailureRate,
		openFor:         c.OpenDurationFunc,
		readyToTrip:     c.ReadyToTrip,
		failureCount:    c.FailureCount,
		shadow:          c.Shadow,
		clock:           clock.Or(c.Clock),
		hooks:           c.Hooks,
	}
	windowed := c.CountWindow > 0 || c.TimeWindow > 0
	switch {
	case c.ConsecutiveFailures < 0 || c.ConsecutiveFailures > MaxCount:
		return s, invalid("ConsecutiveFailures", "must be in [0, %d], got %d", MaxCount, c.ConsecutiveFailures)
	case c.CountWindow < 0 || c.CountWindow > MaxCount:
		return s, invalid("CountWindow", "must be in [0, %d], got %d", MaxCount, c.CountWindow)
	case c.TimeWindow < 0:
		return s, invalid("TimeWindow", "must not be negative, got %v", c.TimeWindow)
	case c.CountWindow > 0 && c.TimeWindow > 0:
		return s, invalid("TimeWindow", "cannot be set together with CountWindow")
	case c.TimeWindowBuckets < 0 || c.TimeWindowBuckets > MaxTimeWindowBuckets:
		return s, invalid("TimeWindowBuckets", "must be in [0, %d], got %d", MaxTimeWindowBuckets, c.TimeWindowBuckets)
	case c.TimeWindowBuckets > 0 && c.TimeWindow == 0:
		return s, invalid("TimeWindowBuckets", "needs TimeWindow")
	case !rateOK(c.FailureRate):
		return s, invalid("FailureRate", "must be in [0, 1], got %v", c.FailureRate)
	case c.FailureRate > 0 && !windowed:
		return s, invalid("FailureRate", "needs CountWindow or TimeWindow")
	case c.MinCalls < 0 || c.MinCalls > MaxCount:
		return s, invalid("MinCalls", "must be in [0, %d], got %d", MaxCount, c.MinCalls)
	case c.MinCalls > 0 && !windowed:
		return s, invalid("MinCalls", "needs CountWindow or TimeWindow")
	case c.CountWindow > 0 && c.MinCalls > c.CountWindow:
		return s, invalid("MinCalls", "must not exceed CountWindow (%d), got %d", c.CountWindow, c.MinCalls)
	case c.SlowCallDuration < 0:
		return s, invalid("SlowCallDuration", "must not be negative, got %v", c.SlowCallDuration)
	case !rateOK(c.SlowCallRate):
		return s, invalid("SlowCallRate", "must be in [0, 1], got %v", c.SlowCallRate)
	case c.SlowCallRate > 0 && (c.SlowCallDuration == 0 || !windowed):
		return s, invalid("SlowCallRate", "needs SlowCallDuration and CountWindow or TimeWindow")
	case c.OpenDuration < 0:
		return s, invalid("OpenDuration", "must not be negative, got %v", c.OpenDuration)
	case c.OpenDurationMultiplier != 0 && !(c.OpenDurationMultiplier >= 1 && c.OpenDurationMultiplier <= 1000):
		return s, invalid("OpenDurationMultiplier", "must be in [1, 1000], got %v", c.OpenDurationMultiplier)
	case c.MaxOpenDuration < 0:
		return s, invalid("MaxOpenDuration", "must not be negative, got %v", c.MaxOpenDuration)
	case c.HalfOpenTimeout < 0:
		return s, invalid("HalfOpenTimeout", "must not be negative, got %v", c.HalfOpenTimeout)
	case c.HalfOpenProbes < 0 || c.HalfOpenProbes > MaxCount:
		return s, invalid("HalfOpenProbes", "must be in [0, %d], got %d", MaxCount, c.HalfOpenProbes)
	case c.SuccessesToClose < 0 || c.SuccessesToClose > MaxCount:
		return s, invalid("SuccessesToClose", "must be in [0, %d], got %d", MaxCount, c.SuccessesToClose)
	case c.ProbeLimit != ProbesPerPeriod && c.ProbeLimit != ProbesInFlight:
		return s, invalid("ProbeLimit", "unknown limit %d", int(c.ProbeLimit))
	case c.ProbeLimit == ProbesPerPeriod && c.SuccessesToClose > max(c.HalfOpenProbes, DefaultHalfOpenProbes):
		return s, invalid("SuccessesToClose", "must not exceed the probes of a period (HalfOpenProbes %d), got %d",
			max(c.HalfOpenProbes, DefaultHalfOpenProbes), c.SuccessesToClose)
	case !rateOK(c.HalfOpenFailureRate):
		return s, invalid("HalfOpenFailureRate", "must be in [0, 1], got %v", c.HalfOpenFailureRate)
	case c.HalfOpenFailureRate > 0 && c.ProbeLimit != ProbesPerPeriod:
		return s, invalid("HalfOpenFailureRate", "needs ProbeLimit ProbesPerPeriod")
	case c.HalfOpenFailureRate > 0 && c.SuccessesToClose > 0:
		return s, invalid("HalfOpenFailureRate", "cannot be set together with SuccessesToClose")
	case c.FailureCount < 0 || c.FailureCount > MaxCount:
		return s, invalid("FailureCount", "must be in [0, %d], got %d", MaxCount, c.FailureCount)
	case c.FailureCount > 0 && !windowed:
		return s, invalid("FailureCount", "needs CountWindow or TimeWindow")
	case c.CountWindow > 0 && c.FailureCount > c.CountWindow:
		return s, invalid("FailureCount", "must not exceed CountWindow (%d), got %d", c.CountWindow, c.FailureCount)
	case c.ReadyToTrip != nil && c.ConsecutiveFailures > 0:
		return s, invalid("ConsecutiveFailures", "cannot be set together with ReadyToTrip")
	case c.ReadyToTrip != nil && (c.FailureRate > 0 || c.FailureCount > 0 || c.SlowCallRate > 0 || c.MinCalls > 0):
		return s, invalid("ReadyToTrip", "cannot be set together with FailureRate, FailureCount, SlowCallRate or MinCalls")
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

	s.consecutive = int64(c.ConsecutiveFailures)
	if s.consecutive == 0 && !windowed && c.ReadyToTrip == nil {
		s.consecutive = DefaultConsecutiveFailures
	}
	if windowed && s.failureRate == 0 && c.FailureCount == 0 && c.ReadyToTrip == nil {
		s.failureRate = DefaultFailureRate
	}
	if c.TimeWindow > 0 {
		if s.buckets == 0 {
			s.buckets = DefaultTimeWindowBuckets
		}
		if time.Duration(s.buckets) > c.TimeWindow {
			return s, invalid("TimeWindowBuckets", "%d buckets do not fit in a TimeWindow of %v", s.buckets, c.TimeWindow)
		}
		if s.minCalls == 0 {
			s.minCalls = DefaultTimeWindowMinCalls
		}
	}
	if c.CountWindow > 0 && s.minCalls == 0 {
		s.minCalls = c.CountWindow
	}
	if s.slowCall > 0 && windowed && s.slowRate == 0 && c.ReadyToTrip == nil {
		s.slowRate = DefaultSlowCallRate
	}
	if s.open == 0 {
		s.open = DefaultOpenDuration
	}
	if s.multiplier == 0 {
		s.multiplier = 1
	}
	if s.maxOpen == 0 {
		s.maxOpen = max(s.open, DefaultMaxOpenDuration)
	} else if s.maxOpen < s.open {
		return s, invalid("MaxOpenDuration", "must not be below OpenDuration (%v), got %v", s.open, s.maxOpen)
	}
	s.probes = int32(c.HalfOpenProbes)
	if s.probes == 0 {
		s.probes = DefaultHalfOpenProbes
	}
	s.toClose = int32(c.SuccessesToClose)
	if s.toClose == 0 {
		s.toClose = s.probes
	}
	s.minCalls = max(s.minCalls, 1) // no rate over no calls
	h := c.Hooks
	s.timed = s.slowCall > 0 || h.OnSuccess != nil || h.OnFailure != nil || h.OnIgnore != nil
	s.plain = !s.timed && !windowed
	return s, nil
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

// ProbeLimit says what Config.HalfOpenProbes bounds.
type ProbeLimit uint8

const (
	// ProbesPerPeriod bounds the probes admitted in one half-open period,
	// in all. It is the zero value, so the default.
	ProbesPerPeriod ProbeLimit = iota
	// ProbesInFlight bounds the probes running at the same time: once one
	// has finished, another may start, so a long half-open period can send
	// more probes than the limit.
	ProbesInFlight
)

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
// error's own Verdict decides; an error in Ignore is ignored; an error in FailOn or accepted by IsFailure is
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
