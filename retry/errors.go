package retry

import (
	"errors"
	"strconv"
)

// Why a policy stopped retrying, as Error.Cause. A context's error
// (context.Canceled, context.DeadlineExceeded or its cause) is the fourth.
var (
	// ErrExhausted: the attempts ran out.
	ErrExhausted = errors.New("retry: attempts exhausted")
	// ErrMaxElapsed: the next delay would end past Config.MaxElapsed.
	ErrMaxElapsed = errors.New("retry: time budget exhausted")
	// ErrBudgetExhausted: the retry budget had no retry to spare; the
	// dependency is failing broadly.
	ErrBudgetExhausted = errors.New("retry: retry budget exhausted")
)

// Error is returned when a policy stopped retrying a retryable failure
// because a limit was reached: attempts, time, retry budget or context.
// It wraps the reason and each attempt's error, so errors.Is matches any
// of them (use errors.Is or errors.As, not errors.Unwrap).
//
// An error that is not retryable is returned unchanged, not as an *Error.
type Error struct {
	// Attempts is the number of attempts made, at least 1.
	Attempts int
	// Cause is why retrying stopped: ErrExhausted, ErrMaxElapsed,
	// ErrBudgetExhausted, or the context's cause.
	Cause error
	// Err is the last attempt's error.
	Err error
	// Errors are the attempts' errors, oldest first, Err last: every
	// attempt's when there were at most 16, else the first
	// 8 and the last 8. errors.Is and errors.As match
	// each of them. Attempts whose result was retried with a nil error
	// have none.
	Errors []error
}

// maxErrors bounds Error.Errors, so that a long retry sequence keeps a
// bounded history.
const maxErrors = 16

// keep appends err to the history h, keeping its first and last
// maxErrors/2 once it is full.
func keep(h []error, err error) []error {
	if len(h) == maxErrors {
		copy(h[maxErrors/2:], h[maxErrors/2+1:])
		h = h[:maxErrors-1]
	}
	return append(h, err)
}

func (e *Error) Error() string {
	return "retry: gave up after " + strconv.Itoa(e.Attempts) + " attempt" + plural(e.Attempts) +
		" (" + e.Cause.Error() + "): " + e.Err.Error()
}

// Unwrap returns the cause, the last attempt's error and the earlier
// attempts' (Errors).
func (e *Error) Unwrap() []error {
	if len(e.Errors) == 0 {
		return []error{e.Cause, e.Err}
	}
	return append([]error{e.Cause}, e.Errors...) // Err is the last of Errors
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
