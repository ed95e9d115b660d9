package retry

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/config"
)

// Defaults applied to the zero fields of a Config.
const (
	defaultMaxAttempts = 4 // the first call and up to 3 retries
	defaultDelay       = time.Second
	defaultMultiplier  = 2.0
	defaultMaxDelay    = 30 * time.Second
	// defaultMaxRetryAfter caps the delays servers ask for.
	defaultMaxRetryAfter = 5 * time.Minute
	defaultJitterFactor  = 0.2
)

// Jitter says how a delay is randomised, so that clients that failed
// together do not retry together.
type Jitter int

// The jitter strategies. d is the exponential delay of the retry,
// min(Delay × Multiplier^(n-1), MaxDelay), and U(a, b) a uniform random
// duration between a and b.
const (
	// JitterProportional waits d × U(1-f, 1+f), f being JitterFactor (0.2 by
	// default, as gRPC does). It is the zero value, so the default.
	JitterProportional Jitter = iota
	// JitterNone waits exactly d.
	JitterNone
	// JitterFull waits U(0, d): the least total work under contention.
	JitterFull
	// JitterEqual waits d/2 + U(0, d/2).
	JitterEqual
	// JitterDecorrelated waits U(Delay, 3 × the previous delay), starting
	// from Delay; Multiplier plays no part.
	JitterDecorrelated
	// JitterRandom waits U(Delay, MaxDelay) before every retry, MaxDelay
	// being required (failsafe-go's random delay); Multiplier plays no
	// part.
	JitterRandom
)

var jitterNames = [...]string{"proportional", "none", "full", "equal", "decorrelated", "random"}

// Unlimited, as Config.MaxAttempts, retries for as long as MaxElapsed, the
// context and the retry budget allow. It needs MaxElapsed.
const Unlimited = -1

// String returns the strategy's name.
func (j Jitter) String() string {
	if j >= 0 && int(j) < len(jitterNames) {
		return jitterNames[j]
	}
	return fmt.Sprintf("jitter(%d)", int(j))
}

// Config describes a retry policy. The zero Config is a valid policy with
// the defaults: 4 attempts in all (3 retries) after delays of 1 s, 2 s and
// 4 s, each ±20 %, never retrying a rejection such as breaker.ErrOpen, with a retry budget of
// its own (see BudgetConfig).
//
// New checks a Config once and returns a *config.Error naming the first
// field that is out of range.
type Config struct {
	// Name identifies the policy in events and metrics.
	Name string

	// MaxAttempts is the number of attempts in all, the first included: 1
	// means no retry. Zero means 4; Unlimited means no limit but MaxElapsed.
	MaxAttempts int
	// MaxElapsed, when positive, is a time budget for the whole call: no
	// retry is started whose delay would end after MaxElapsed since the
	// first attempt began. The context's deadline is honoured the same way.
	MaxElapsed time.Duration

	// Delay is the delay before the first retry, and the base of the
	// others. Zero means 1 s.
	Delay time.Duration
	// Multiplier grows the delay for each retry: 1 keeps it constant. Zero
	// means 2.
	Multiplier float64
	// MaxDelay caps the policy's own delays. Zero means 30 s.
	MaxDelay time.Duration
	// MaxRetryAfter caps a delay a server asks for (an HTTP Retry-After, a
	// gRPC grpc-retry-pushback-ms), in [0, 24 h]: the policy waits what the
	// server asked, as gRFC A6 says, up to this cap; the call's deadline
	// and MaxElapsed bound it too (a retry that would start past either is
	// not made). Zero means 5 minutes.
	MaxRetryAfter time.Duration
	// Jitter randomises the delays. The zero value is JitterProportional.
	Jitter Jitter
	// JitterFactor is f of JitterProportional, in (0, 1]. Zero means 0.2.
	JitterFactor float64
	// JitterDuration, when positive, randomises each delay by an absolute
	// amount instead of a factor: it waits d + U(-JitterDuration,
	// +JitterDuration), never below zero (failsafe-go's WithJitter). It
	// replaces JitterFactor, and applies to JitterProportional only.
	JitterDuration time.Duration
	// Backoff, when set, computes the delay before retry n (1 for the first
	// retry) after error err, instead of Delay, Multiplier and Jitter. Its
	// result is still capped by MaxDelay.
	Backoff func(n int, err error) time.Duration

	// RetryIf, when set, decides whether an error is retried.
	RetryIf func(err error) bool
	// RetryOn lists the errors that are retried (matched with errors.Is).
	// When RetryOn or RetryIf is set, other errors are not retried.
	RetryOn []error
	// DoNotRetryOn lists errors that are never retried (matched with
	// errors.Is). It wins over RetryOn and RetryIf.
	DoNotRetryOn []error

	// Budget is a retry budget shared with other policies. Nil means a
	// budget of the policy's own, with the default BudgetConfig.
	Budget *Budget
	// NoBudget turns the retry budget off: every retryable failure is
	// retried up to MaxAttempts, however many calls are failing.
	NoBudget bool

	// Clock is the time source for delays. Nil means clock.System.
	Clock clock.Clock
	// Rand returns random numbers in [0, 1) for jitter. It must be safe for
	// concurrent use. Nil means math/rand/v2's Float64.
	Rand func() float64
	// Hooks are called on retries and when the policy gives up.
	Hooks Hooks
}

func invalid(field, format string, args ...any) error {
	return &config.Error{Package: "retry", Field: field, Reason: fmt.Sprintf(format, args...)}
}

// settings is a Config with its defaults applied, checked.
type settings struct {
	Config
	budget *Budget // nil when NoBudget
}

func (c Config) settings() (settings, error) {
	switch {
	case c.MaxAttempts < Unlimited:
		return settings{}, invalid("MaxAttempts", "must not be negative (but Unlimited), got %d", c.MaxAttempts)
	case c.MaxAttempts == Unlimited && c.MaxElapsed <= 0:
		return settings{}, invalid("MaxAttempts", "Unlimited needs MaxElapsed, to bound the retries in time")
	case c.MaxElapsed < 0:
		return settings{}, invalid("MaxElapsed", "must not be negative, got %v", c.MaxElapsed)
	case c.Delay < 0:
		return settings{}, invalid("Delay", "must not be negative, got %v", c.Delay)
	case c.Multiplier != 0 && !(c.Multiplier >= 1 && c.Multiplier <= 1000):
		return settings{}, invalid("Multiplier", "must be in [1, 1000], got %v", c.Multiplier)
	case c.MaxRetryAfter < 0 || c.MaxRetryAfter > 24*time.Hour:
		return settings{}, invalid("MaxRetryAfter", "must be in [0, 24h], got %v", c.MaxRetryAfter)
	case c.MaxDelay < 0:
		return settings{}, invalid("MaxDelay", "must not be negative, got %v", c.MaxDelay)
	case c.Jitter < 0 || int(c.Jitter) >= len(jitterNames):
		return settings{}, invalid("Jitter", "unknown strategy %d", int(c.Jitter))
	case !(c.JitterFactor >= 0 && c.JitterFactor <= 1): // also rejects NaN
		return settings{}, invalid("JitterFactor", "must be in [0, 1], got %v", c.JitterFactor)
	case c.JitterFactor != 0 && c.Jitter != JitterProportional:
		return settings{}, invalid("JitterFactor", "applies to JitterProportional only, not %v", c.Jitter)
	case c.JitterDuration < 0:
		return settings{}, invalid("JitterDuration", "must not be negative, got %v", c.JitterDuration)
	case c.JitterDuration > 0 && (c.Jitter != JitterProportional || c.JitterFactor != 0):
		return settings{}, invalid("JitterDuration", "replaces JitterFactor, and applies to JitterProportional only")
	case c.Jitter == JitterRandom && c.MaxDelay == 0:
		return settings{}, invalid("MaxDelay", "is required by JitterRandom, as the upper bound of its delays")
	case c.Budget != nil && c.NoBudget:
		return settings{}, invalid("NoBudget", "cannot be set together with Budget")
	}
	for i, err := range c.RetryOn {
		if err == nil {
			return settings{}, invalid(fmt.Sprintf("RetryOn[%d]", i), "is nil")
		}
	}
	for i, err := range c.DoNotRetryOn {
		if err == nil {
			return settings{}, invalid(fmt.Sprintf("DoNotRetryOn[%d]", i), "is nil")
		}
	}
	s := settings{Config: c}
	switch s.MaxAttempts {
	case 0:
		s.MaxAttempts = defaultMaxAttempts
	case Unlimited:
		s.MaxAttempts = math.MaxInt
	}
	if s.Delay == 0 {
		s.Delay = defaultDelay
	}
	if s.Multiplier == 0 {
		s.Multiplier = defaultMultiplier
	}
	if s.MaxRetryAfter == 0 {
		s.MaxRetryAfter = defaultMaxRetryAfter
	}
	if s.MaxDelay == 0 {
		s.MaxDelay = max(defaultMaxDelay, s.Delay)
	} else if s.MaxDelay < s.Delay {
		return settings{}, invalid("MaxDelay", "must not be below Delay (%v), got %v", s.Delay, s.MaxDelay)
	}
	if s.Jitter == JitterProportional && s.JitterFactor == 0 && s.JitterDuration == 0 {
		s.JitterFactor = defaultJitterFactor
	}
	s.Clock = clock.Or(s.Clock)
	if s.Rand == nil {
		s.Rand = rand.Float64
	}
	switch {
	case s.NoBudget:
	case s.Budget != nil:
		s.budget = s.Budget
	default:
		s.budget = newBudget(BudgetConfig{Clock: s.Clock})
	}
	return s, nil
}
