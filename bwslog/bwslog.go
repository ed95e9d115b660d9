// Package bwslog logs what Breakwater's policies do as structured log/slog
// records. Messages are constant, so that they can be searched and
// counted; the details are in attributes with stable names.
//
//	message                     level  from
//	circuit state changed       Warn   a breaker opening or forced open
//	                            Info   a breaker closing or half-opening
//	retrying                    Info   a retry
//	retries exhausted           Warn   a retry policy giving up
//	call shed                   Debug  a bulkhead, rate limit, throttle or
//	                                   adaptive limit turning a call away
//	concurrency limit changed   Debug  an adaptive limit's change
//	hedging                     Debug  a hedge started
//	hedge won                   Debug  a hedge that won
//
//	attribute    value
//	breaker      the breaker's name
//	from, to     the state left, the state entered (a limit's old and new)
//	reason       why the state changed
//	until        when an open circuit lets probes through
//	retry        the retry policy's name
//	attempt      the attempt that failed
//	delay        the delay before the next attempt
//	attempts     the attempts made
//	cause        why retrying stopped
//	error        the error
//	bulkhead, ratelimit, throttle, adaptive
//	             the shedding policy's name (the key names its kind)
//	waited       how long a bulkhead's call queued before it was turned away
//	retry_in     when a rate limiter would have had a token
//	probability  a throttle's probability of refusal
//	limit        an adaptive limit
//	hedge        the hedging policy's name
//	number       the hedge's number, from 1
//	after        the time since the call started
//
// Shed calls and limit changes are logged at Debug: under overload they come
// by the thousand a second, and the metrics (bwprom, bwotel) are the place
// to watch them. Hedges are logged at Debug too: hedging is the policy at
// work, not trouble. Records of calls carry the call's context, so a
// trace-aware handler ties them to the caller's trace. Attach the hooks
// when building a policy (or a registry's Defaults); a policy without them
// pays nothing.
package bwslog

import (
	"context"
	"log/slog"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
)

// Messages of the records (see the package doc).
const (
	msgStateChange = "circuit state changed"
	msgRetry       = "retrying"
	msgGiveUp      = "retries exhausted"
	msgShed        = "call shed"
	msgLimitChange = "concurrency limit changed"
	msgHedge       = "hedging"
	msgHedgeWon    = "hedge won"
)

// Attribute keys of the records (see the package doc).
const (
	keyBreaker  = "breaker"
	keyRetry    = "retry"
	keyFrom     = "from"
	keyTo       = "to"
	keyError    = "error"
	keyAttempt  = "attempt"
	keyAttempts = "attempts"
	keyDelay    = "delay"
	keyCause    = "cause"
	keyReason   = "reason"
	keyUntil    = "until"

	keyBulkhead    = "bulkhead"
	keyRateLimit   = "ratelimit"
	keyThrottle    = "throttle"
	keyAdaptive    = "adaptive"
	keyWaited      = "waited"      // a bulkhead's call turned away after queueing
	keyRetryIn     = "retry_in"    // when a rate limiter would have had a token
	keyProbability = "probability" // a throttle's probability of refusal
	keyLimit       = "limit"       // an adaptive limit

	keyHedge  = "hedge"  // the hedging policy's name
	keyNumber = "number" // the hedge's number, from 1
	keyAfter  = "after"  // since the call started
)

// Hooks returns the hooks of a policy of kind H that log what it does to
// l (nil means slog.Default()), as the package doc lists:
//
//	b, err := breaker.New(breaker.Config{Name: "payments-api", Hooks: bwslog.Hooks[breaker.Hooks](logger)})
//
// A breaker's state changes are logged with the context of the call that
// made the change (StateChange.Context): a handler that reads the trace
// from the context ties a trip to the trace of the call that tripped it.
// Join them with others with breaker.JoinHooks.
func Hooks[H breaker.Hooks | retry.Hooks | bulkhead.Hooks | ratelimit.Hooks | throttle.Hooks | adaptive.Hooks | hedge.Hooks](l *slog.Logger) H {
	l = or(l)
	var h H
	switch p := any(&h).(type) {
	case *breaker.Hooks:
		*p = breakerHooks(l)
	case *retry.Hooks:
		*p = retryHooks(l)
	case *bulkhead.Hooks:
		*p = bulkheadHooks(l)
	case *ratelimit.Hooks:
		*p = rateLimitHooks(l)
	case *throttle.Hooks:
		*p = throttleHooks(l)
	case *adaptive.Hooks:
		*p = adaptiveHooks(l)
	case *hedge.Hooks:
		*p = hedgeHooks(l)
	}
	return h
}

// breakerHooks logs a breaker's state changes, with the context of the
// call that made the change.
func breakerHooks(l *slog.Logger) breaker.Hooks {
	return breaker.Hooks{OnStateChange: func(c breaker.StateChange) {
		level := slog.LevelInfo
		if c.To == breaker.Open || c.To == breaker.ForcedOpen {
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{slog.String(keyBreaker, c.Name), slog.String(keyFrom, c.From.String()),
			slog.String(keyTo, c.To.String()), slog.String(keyReason, c.Reason.String())}
		if !c.Until.IsZero() {
			attrs = append(attrs, slog.Time(keyUntil, c.Until))
		}
		ctx := c.Context // the tripping call's, so that a trace-aware handler ties the trip to its trace
		if ctx == nil {
			ctx = context.Background()
		}
		l.LogAttrs(ctx, level, msgStateChange, attrs...)
	}}
}

// retryHooks returns hooks that log a retry policy's retries and give-ups
// to l (nil means slog.Default()).
func retryHooks(l *slog.Logger) retry.Hooks {
	return retry.Hooks{
		OnRetry: func(ctx context.Context, e retry.RetryEvent) {
			l.LogAttrs(ctx, slog.LevelInfo, msgRetry,
				slog.String(keyRetry, e.Name), slog.Int(keyAttempt, e.Attempt),
				slog.Duration(keyDelay, e.Delay), slog.String(keyError, errText(e.Err)))
		},
		OnGiveUp: func(ctx context.Context, e retry.GiveUpEvent) {
			l.LogAttrs(ctx, slog.LevelWarn, msgGiveUp,
				slog.String(keyRetry, e.Name), slog.Int(keyAttempts, e.Attempts),
				slog.String(keyCause, errText(e.Cause)), slog.String(keyError, errText(e.Err)))
		},
	}
}

// bulkheadHooks returns hooks that log the calls a bulkhead turns away at Debug.
func bulkheadHooks(l *slog.Logger) bulkhead.Hooks {
	return bulkhead.Hooks{OnReject: func(ctx context.Context, e bulkhead.RejectEvent) {
		l.LogAttrs(ctx, slog.LevelDebug, msgShed, slog.String(keyBulkhead, e.Name), slog.Bool(keyWaited, e.Waited))
	}}
}

// rateLimitHooks returns hooks that log the calls a rate limiter turns
// away at Debug.
func rateLimitHooks(l *slog.Logger) ratelimit.Hooks {
	return ratelimit.Hooks{OnReject: func(ctx context.Context, e ratelimit.RejectEvent) {
		l.LogAttrs(ctx, slog.LevelDebug, msgShed, slog.String(keyRateLimit, e.Name), slog.Duration(keyRetryIn, e.RetryIn))
	}}
}

// throttleHooks returns hooks that log the calls a throttle refuses
// locally at Debug.
func throttleHooks(l *slog.Logger) throttle.Hooks {
	return throttle.Hooks{OnReject: func(ctx context.Context, e throttle.RejectEvent) {
		l.LogAttrs(ctx, slog.LevelDebug, msgShed, slog.String(keyThrottle, e.Name), slog.Float64(keyProbability, e.Probability))
	}}
}

// adaptiveHooks returns hooks that log the calls an adaptive limit turns
// away, and the changes of the limit, to l (nil means slog.Default()), at
// Debug.
func adaptiveHooks(l *slog.Logger) adaptive.Hooks {
	return adaptive.Hooks{
		OnReject: func(ctx context.Context, e adaptive.RejectEvent) {
			l.LogAttrs(ctx, slog.LevelDebug, msgShed, slog.String(keyAdaptive, e.Name), slog.Int(keyLimit, e.Limit))
		},
		OnLimitChange: func(c adaptive.LimitChange) {
			l.LogAttrs(context.Background(), slog.LevelDebug, msgLimitChange, slog.String(keyAdaptive, c.Name),
				slog.Int(keyFrom, c.From), slog.Int(keyTo, c.To))
		},
	}
}

// hedgeHooks returns hooks that log the hedges a hedging policy starts,
// and those whose answer won, at Debug.
func hedgeHooks(l *slog.Logger) hedge.Hooks {
	log := func(msg string) func(context.Context, hedge.HedgeEvent) {
		return func(ctx context.Context, e hedge.HedgeEvent) {
			l.LogAttrs(ctx, slog.LevelDebug, msg, slog.String(keyHedge, e.Name), slog.Int(keyNumber, e.Hedge), slog.Duration(keyAfter, e.After))
		}
	}
	return hedge.Hooks{OnHedge: log(msgHedge), OnWin: log(msgHedgeWon)}
}

func or(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

func errText(err error) string {
	if err == nil {
		return "" // a retried result, not an error
	}
	return err.Error()
}
