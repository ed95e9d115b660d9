package outcome

import (
	"strconv"
	"strings"
	"time"
)

// RejectedError is the error of a call a load-shedding policy turned away
// without running it: a bulkhead full, a rate limit spent, a throttle
// refusing locally, an adaptive limit reached. It is a rejection
// (Rejected reports true): retry policies do not retry it at once, a
// breaker counts it as neither success nor failure. errors.Is matches
// the policy's own error, Err (bulkhead.ErrFull, ratelimit.ErrLimited,
// throttle.ErrThrottled, adaptive.ErrLimited); errors.As gives the
// policy's name and when to come back. A policy makes its values once
// when it can, so that turning a call away allocates nothing.
type RejectedError struct {
	// Err is what the policy turns calls away with, "<package>: <what>".
	Err error
	// Name is the policy's name, or "".
	Name string
	// After is how long until the policy lets a call through, when it
	// knows (a rate limiter's next token), which RetryAfter reports and
	// retry policies honour; zero when it does not.
	After time.Duration
}

// Error returns Err's message with the policy's name after its package,
// and After when known: `ratelimit "api": rate limited; retry in 20ms`.
// Without Err it says "rejected".
func (e *RejectedError) Error() string {
	msg := "rejected"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Name != "" {
		pkg, what, ok := strings.Cut(msg, ": ")
		if ok {
			msg = pkg + " " + strconv.Quote(e.Name) + ": " + what
		} else {
			msg = strconv.Quote(e.Name) + ": " + msg
		}
	}
	if e.After > 0 {
		msg += "; retry in " + e.After.String()
	}
	return msg
}

// Unwrap returns Err.
func (e *RejectedError) Unwrap() error { return e.Err }

// Rejected reports true: the call was turned away without running.
func (e *RejectedError) Rejected() bool { return true }
