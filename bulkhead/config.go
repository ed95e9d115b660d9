package bulkhead

import (
	"context"
	"fmt"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/config"
)

// Defaults applied to the zero fields of a Config.
const (
	// defaultMaxConcurrent is resilience4j's default for its semaphore
	// bulkhead.
	defaultMaxConcurrent = 25
)

// maxLimit bounds MaxConcurrent and MaxQueue.
const maxLimit = 1_000_000

// Config describes a bulkhead. The zero Config is valid: at most 25 calls
// at once, no queue.
type Config struct {
	// Name identifies the bulkhead in errors, events and metrics.
	Name string
	// MaxConcurrent is the number of calls that may run at once. Zero
	// means 25.
	MaxConcurrent int
	// MaxQueue is the number of calls that may wait for a slot, in order.
	// Zero means none: a call that finds every slot taken is turned away
	// at once.
	MaxQueue int
	// MaxWait bounds how long a queued call waits for a slot; zero means
	// as long as its context allows. It needs MaxQueue.
	MaxWait time.Duration
	// Clock times MaxWait. Nil means clock.System.
	Clock clock.Clock
	// Hooks are called when calls are turned away.
	Hooks Hooks
}

// Hooks are functions a bulkhead calls; each may be nil. They run on the
// caller's goroutine, with the call's context.
type Hooks struct {
	// OnReject is called for each call turned away.
	OnReject func(ctx context.Context, e RejectEvent)
}

// RejectEvent describes a call a bulkhead turned away.
type RejectEvent struct {
	Name string
	// Waited reports a call that waited in the queue and ran out of
	// MaxWait; false for one turned away at once.
	Waited bool
}

func invalid(field, format string, args ...any) error {
	return &config.Error{Package: "bulkhead", Field: field, Reason: fmt.Sprintf(format, args...)}
}

func (c Config) checked() (Config, error) {
	switch {
	case c.MaxConcurrent < 0 || c.MaxConcurrent > maxLimit:
		return c, invalid("MaxConcurrent", "must be in [0, %d], got %d", maxLimit, c.MaxConcurrent)
	case c.MaxQueue < 0 || c.MaxQueue > maxLimit:
		return c, invalid("MaxQueue", "must be in [0, %d], got %d", maxLimit, c.MaxQueue)
	case c.MaxWait < 0:
		return c, invalid("MaxWait", "must not be negative, got %v", c.MaxWait)
	case c.MaxWait > 0 && c.MaxQueue == 0:
		return c, invalid("MaxWait", "needs MaxQueue: without a queue no call waits")
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = defaultMaxConcurrent
	}
	c.Clock = clock.Or(c.Clock)
	return c, nil
}
