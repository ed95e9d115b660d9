package ratelimit

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/config"
)

// Bounds of Config's fields: the interval between tokens is between 1 ns
// and 1000 s, and a bucket holds at most a million tokens, so that no
// arithmetic on them can overflow.
const (
	minRate  = 0.001
	maxRate  = 1e9
	maxBurst = 1_000_000
)

// Config describes a limiter.
type Config struct {
	// Name identifies the limiter in errors, events and metrics.
	Name string
	// Rate is the number of calls a second, in [0.001, 1e9]. It is
	// required.
	Rate float64
	// Burst is the number of calls that may go through at once after a
	// quiet spell. Zero means 1: calls are spaced evenly.
	Burst int
	// MaxWait bounds how long Do waits for a token; zero means Do never
	// waits: a call without a token is turned away at once. Wait is bounded
	// by its context alone.
	MaxWait time.Duration
	// Clock is the time source. Nil means clock.System.
	Clock clock.Clock
	// Hooks are called when calls are turned away.
	Hooks Hooks
}

// Hooks are functions a limiter calls; each may be nil. They run on the
// caller's goroutine, with the call's context.
type Hooks struct {
	// OnReject is called for each call Wait or Do turned away (Allow,
	// which has no context, calls no hook; its refusals are counted).
	OnReject func(ctx context.Context, e RejectEvent)
}

// RejectEvent describes a call a limiter turned away.
type RejectEvent struct {
	Name string
	// RetryIn is how long until the call would have had a token.
	RetryIn time.Duration
}

func invalid(field, format string, args ...any) error {
	return &config.Error{Package: "ratelimit", Field: field, Reason: fmt.Sprintf(format, args...)}
}

func (c Config) checked() (Config, error) {
	switch {
	case !(c.Rate >= minRate && c.Rate <= maxRate): // also NaN
		return c, invalid("Rate", "must be in [%g, %g] calls a second, got %v", minRate, maxRate, c.Rate)
	case c.Burst < 0 || c.Burst > maxBurst:
		return c, invalid("Burst", "must be in [0, %d], got %d", maxBurst, c.Burst)
	case c.MaxWait < 0:
		return c, invalid("MaxWait", "must not be negative, got %v", c.MaxWait)
	}
	if c.Burst == 0 {
		c.Burst = 1
	}
	c.Clock = clock.Or(c.Clock)
	return c, nil
}

// interval returns the time between tokens, at least 1 ns.
func (c Config) interval() time.Duration {
	return max(time.Duration(math.Round(float64(time.Second)/c.Rate)), 1)
}
