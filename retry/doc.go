// Package retry re-runs a failing call until it succeeds, its attempts run
// out, its time budget runs out, or its context ends — and, through a retry
// budget, stops retrying when a dependency fails broadly, so that retries
// cannot turn a dependency's bad minute into an outage of their own.
//
// # Delays
//
// Retry n (1 for the first retry) waits d = min(Delay × Multiplier^(n-1),
// MaxDelay), randomised by the Jitter strategy:
//
//	JitterProportional  d × U(1-f, 1+f)          f = JitterFactor, 0.2 by default (gRPC)
//	JitterNone          d
//	JitterFull          U(0, d)                   least work under contention (AWS)
//	JitterEqual         d/2 + U(0, d/2)
//	JitterDecorrelated  U(Delay, 3 × previous)    previous starts at Delay
//
// With the defaults (Delay 1 s, Multiplier 2, MaxDelay 30 s, proportional
// jitter of 20 %) the three retries of the default 4 attempts wait about
// 1 s, 2 s and 4 s. Multiplier 1 gives a constant delay; Config.Backoff
// plugs in any other function. The policy's own delays are capped by
// MaxDelay; one a server asks for (outcome.After, or any error with a
// RetryAfter() time.Duration method) is waited as asked, capped by
// MaxRetryAfter. No
// retry is started whose delay would end after MaxElapsed or the
// context's deadline, and a delay ends at once when the context is done.
//
// # What is retried
//
// Any error, except: errors marked outcome.Permanent; errors in DoNotRetryOn;
// a rejection (an error with a Rejected() bool method) such as breaker.ErrOpen (retrying an open circuit only wastes attempts) unless
// it is listed in RetryOn; and, when RetryOn or RetryIf is set, errors they
// do not select. Options.RetryResult, typed, retries successful results too.
//
// # Errors
//
// A call that is not retryable returns its error unchanged. A call cut
// short by a limit returns an *Error, which unwraps to both the reason
// (ErrExhausted, ErrMaxElapsed, ErrBudgetExhausted, or the context's
// cause) and the last attempt's error, so errors.Is(err, io.EOF) still
// works on it.
//
// # Budget
//
// Each policy has a retry budget unless Config.NoBudget is set; see
// BudgetConfig for the model and why it is on by default.
package retry
