// Package outcome says what the end of a call means to the policies that
// see it, in one place for every policy and integration:
//
//   - a rejection: a policy turned the call away before it reached the
//     dependency (Rejected: an error with a Rejected() bool method);
//   - a verdict: how the call counts for the policies that judge the
//     dependency by its calls, a breaker, a throttle, an adaptive limit
//     (Mark, VerdictOf);
//   - whether it is retried, whatever a retry policy's lists say
//     (Permanent, Retryable);
//   - when to try again: a delay the dependency asked for (After,
//     RetryAfter).
//
// The marks wrap the error: errors.Is and errors.As see through them, and
// the policies that act on a mark hand the caller the error without it.
// The package imports none of the policies: an integration marks its
// errors without depending on the policies that read them.
//
// It also holds what every policy hands out: RejectedError, the error of a
// call a load-shedding policy turned away, and Permit, the right to make
// one call in the two-step form (Allow, then Done).
package outcome

import (
	"strconv"
	"time"
)

// Verdict is how the end of a call counts for the policies that judge the
// dependency by its calls.
type Verdict uint8

// The verdicts.
const (
	Success Verdict = iota
	Failure
	Ignored // neither success nor failure: the call says nothing of the dependency
	// Overloaded: the dependency answered that it is too busy to serve the
	// call and when to come back (a 503 with Retry-After,
	// RESOURCE_EXHAUSTED with a retry pushback). It is alive and protecting
	// itself: a breaker counts the call as neither success nor failure, so
	// that shedding opens no circuit and the calls the dependency can serve
	// go on; a throttle counts it refused and an adaptive limit as a
	// failure, so that the caller sends less; retries wait as asked.
	Overloaded
)

func (v Verdict) String() string {
	switch v {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Ignored:
		return "ignored"
	case Overloaded:
		return "overloaded"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Mark returns err marked with how the call it ends counts, whatever a
// breaker's Config says (Ignore, FailOn, IsFailure): for an integration
// that classifies outcomes by its own documented rules (an HTTP status, a
// gRPC code). Mark(nil, v) is nil.
func Mark(err error, v Verdict) error {
	if err == nil {
		return nil
	}
	return &verdictError{err, v}
}

type verdictError struct {
	err error
	v   Verdict
}

func (e *verdictError) Error() string    { return e.err.Error() }
func (e *verdictError) Unwrap() error    { return e.err }
func (e *verdictError) Verdict() Verdict { return e.v }

// VerdictOf returns the verdict err is marked with (by Mark, or by a
// Verdict() outcome.Verdict method of an error of its chain), if any. An
// unknown verdict is a failure.
func VerdictOf(err error) (Verdict, bool) {
	m, ok := find[interface{ Verdict() Verdict }](err)
	if !ok {
		return 0, false
	}
	if v := m.Verdict(); v <= Overloaded {
		return v, true
	}
	return Failure, true
}

// Rejected reports whether err says it is a policy's rejection: an error
// of its chain has a Rejected() bool method that says true. The call was
// turned away before it reached the dependency: retry policies do not
// retry it at once, a breaker counts it as neither success nor failure,
// outcome.Rejected accepts it.
func Rejected(err error) bool {
	r, ok := find[interface{ Rejected() bool }](err)
	return ok && r.Rejected()
}

// Permanent marks err so that a retry policy returns it at once, without
// retrying; the policy returns err itself, not the mark. Permanent(nil) is
// nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &retryMark{err, false}
}

// Retryable marks err so that a retry policy retries it whatever its
// RetryOn, RetryIf and DoNotRetryOn say, within its attempts, time and
// budget: the opposite of Permanent, for an integration that decides by
// its own documented rules which of its outcomes are retried. Retryable(nil)
// is nil.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &retryMark{err, true}
}

type retryMark struct {
	err   error
	retry bool
}

func (e *retryMark) Error() string   { return e.err.Error() }
func (e *retryMark) Unwrap() error   { return e.err }
func (e *retryMark) Permanent() bool { return !e.retry }

// Retry reports whether err is marked Permanent (retry false) or Retryable
// (retry true); marked is false for an error with neither mark. Permanent
// wins wherever the marks are in the chain. An error of another package
// with a Permanent() bool method counts as a mark too.
func Retry(err error) (retry, marked bool) {
	if _, ok := find[interface{ Permanent() bool }](err); !ok {
		return false, false
	}
	permanent := func(e error) bool {
		m, ok := e.(interface{ Permanent() bool })
		return ok && m.Permanent()
	}
	return !walk(err, permanent), true
}

// walk reports whether f holds for an error of err's tree.
func walk(err error, f func(error) bool) bool {
	for err != nil {
		if f(err) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if walk(e, f) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// Unmark returns err without the marks of this package at its top (Mark,
// Permanent, Retryable, After): the marks are for the policies, not the
// caller. Marks under an error of another type stay.
func Unmark(err error) error {
	for {
		switch m := err.(type) {
		case *retryMark:
			err = m.err
		case *verdictError:
			err = m.err
		case *afterError:
			err = m.err
		default:
			return err
		}
	}
}

// After marks err with the delay d the dependency asked for before the
// next attempt (an HTTP Retry-After, gRPC's retry pushback): a retry
// policy waits that long instead of its own backoff; a negative delay
// means "do not retry". After(d, nil) is nil.
func After(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &afterError{err, d}
}

type afterError struct {
	err error
	d   time.Duration
}

func (e *afterError) Error() string             { return e.err.Error() }
func (e *afterError) Unwrap() error             { return e.err }
func (e *afterError) RetryAfter() time.Duration { return e.d }

// RetryAfter returns the delay err asks for before the next attempt: one
// of After, of a *RejectedError that knows when to come back, or of any
// error of its chain with a RetryAfter() time.Duration method.
func RetryAfter(err error) (time.Duration, bool) {
	var d time.Duration
	found := walk(err, func(e error) bool {
		switch e := e.(type) {
		case *RejectedError:
			d = e.After
			return e.After > 0
		case interface{ RetryAfter() time.Duration }:
			d = e.RetryAfter()
			return true
		}
		return false
	})
	return d, found
}

// find returns the first error in err's chain (depth first, as errors.As
// walks it) that implements I, without the allocation errors.As costs for
// its target: the failure paths of the policies stay allocation-free.
// Unlike errors.As it does not consult As methods.
func find[I any](err error) (I, bool) {
	for err != nil {
		if i, ok := err.(I); ok {
			return i, true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if i, ok := find[I](e); ok {
					return i, true
				}
			}
			return *new(I), false
		default:
			return *new(I), false
		}
	}
	return *new(I), false
}
