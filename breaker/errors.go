package breaker

import (
	"errors"
	"strconv"
	"time"
)

// ErrOpen is matched (with errors.Is) by every error a breaker returns
// when it turns a call away without running it: the circuit is open or
// forced open, or it is half-open and all its probe slots are taken.
var ErrOpen = errors.New("breaker: circuit open")

// ErrPanicked is the error reported to hooks for a protected call that
// panicked. The panic itself propagates to the caller unchanged.
var ErrPanicked = errors.New("breaker: protected call panicked")

// OpenError is the error returned for a call turned away. It matches
// ErrOpen. One value is made per state change, so rejecting a call
// allocates nothing.
type OpenError struct {
	// Name is the breaker's name.
	Name string
	// State is the state that turned the call away: Open, ForcedOpen or
	// HalfOpen (all probe slots taken).
	State State
	// Until is when an open circuit starts to let probes through; zero when
	// that time is not known (forced open, half-open).
	Until time.Time
}

func (e *OpenError) Error() string {
	msg := "breaker"
	if e.Name != "" {
		msg += " " + strconv.Quote(e.Name)
	}
	switch e.State {
	case HalfOpen:
		return msg + ": circuit half-open, all probe slots taken"
	case ForcedOpen:
		return msg + ": circuit forced open"
	}
	return msg + ": circuit open"
}

// Rejected reports true: the call was turned away without running. Retry
// and fallback policies recognise rejections by this method.
func (e *OpenError) Rejected() bool { return true }

// Is reports whether target is ErrOpen.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// retryIn returns how long after now an open circuit starts to let probes
// through, or zero when that is not known or already past.
func (e *OpenError) retryIn(now time.Time) time.Duration {
	if e.Until.IsZero() || !e.Until.After(now) {
		return 0
	}
	return e.Until.Sub(now)
}
