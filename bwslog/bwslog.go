// Package bwslog logs what Breakwater's policies do as structured log/slog
// records, with stable attribute names:
//
//	breaker  the breaker's name        retry     the retry policy's name
//	from     the state left            attempt   the attempt that failed
//	to       the state entered         delay     the delay before the next
//	error    the error                 attempts  the attempts made
//	                                   cause     why retrying stopped
//
// A breaker opening (or forced open) is logged at Warn, closing and
// half-opening at Info; a retry at Info, giving up at Warn. A call a
// load-shedding policy turns away, and an adaptive limit's change, are
// logged at Debug: under overload they come by the thousand a second, and
// the metrics (bwprom, bwotel) are the place to watch them; the record's
// key names the kind of policy (bulkhead, ratelimit, throttle, adaptive)
// and its value the policy's name. A hedge started, and a hedge that won,
// are logged at Debug too: hedging is the policy at work, not trouble. Records of calls carry the call's
// context, so a trace-aware handler ties them to the caller's trace.
// Attach the hooks when building a policy (or a registry's Defaults); a
// policy without them pays nothing.
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

// Messages of the records: constant, so that they can be searched and
// counted; the details are in the attributes.
const (
	MsgStateChange = "circuit state changed"
	MsgRetry       = "retrying"
	MsgGiveUp      = "retries exhausted"
	MsgShed        = "call shed"
	MsgLimitChange = "concurrency limit changed"
	MsgHedge       = "hedging"
	MsgHedgeWon    = "hedge won"
)

// Attribute keys of the records.
const (
	KeyBreaker  = "breaker"
	KeyRetry    = "retry"
	KeyFrom     = "from"
	KeyTo       = "to"
	KeyError    = "error"
	KeyAttempt  = "attempt"
	KeyAttempts = "attempts"
	KeyDelay    = "delay"
	KeyCause    = "cause"
	KeyReason   = "reason"
	KeyUntil    = "until"

	KeyBulkhead    = "bulkhead"
	KeyRateLimit   = "ratelimit"
	KeyThrottle    = "throttle"
	KeyAdaptive    = "adaptive"
	KeyWaited      = "waited"      // a bulkhead's call turned away after queueing
	KeyRetryIn     = "retry_in"    // when a rate limiter would have had a token
	KeyProbability = "probability" // a throttle's probability of refusal
	KeyLimit       = "limit"       // an adaptive limit

	KeyHedge  = "hedge"  // the hedging policy's name
	KeyNumber = "number" // the hedge's number, from 1
	KeyAfter  = "after"  // since the call started
)

// BreakerHooks returns hooks that log a breaker's state changes to l (nil
// means slog.Default()), with the context of the call that made the change
// (StateChange.Context): a handler that reads the trace from the context
// ties a trip to the trace of the call that tripped it. Join them with others with breaker.JoinHooks.
func BreakerHooks(l *slog.Logger) breaker.Hooks {
	l = or(l)
	return breaker.Hooks{OnStateChange: func(c breaker.StateChange) {
		level := slog.LevelInfo
		if c.To == breaker.Open || c.To == breaker.ForcedOpen {
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{slog.String(KeyBreaker, c.Name), slog.String(KeyFrom, c.From.String()),
			slog.String(KeyTo, c.To.String()), slog.String(KeyReason, c.Reason.String())}
		if !c.Until.IsZero() {
			attrs = append(attrs, slog.Time(KeyUntil, c.Until))
		}
		ctx := c.Context // the tripping call's, so that a trace-aware handler ties the trip to its trace
		if ctx == nil {
			ctx = context.Background()
		}
		l.LogAttrs(ctx, level, MsgStateChange, attrs...)
	}}
}

// RetryHooks returns hooks that log a retry policy's retries and give-ups
// to l (nil means slog.Default()).
func RetryHooks(l *slog.Logger) retry.Hooks {
	l = or(l)
	return retry.Hooks{
		OnRetry: func(ctx context.Context, e retry.RetryEvent) {
			l.LogAttrs(ctx, slog.LevelInfo, MsgRetry,
				slog.String(KeyRetry, e.Name), slog.Int(KeyAttempt, e.Attempt),
				slog.Duration(KeyDelay, e.Delay), slog.String(KeyError, errText(e.Err)))
		},
		OnGiveUp: func(ctx context.Context, e retry.GiveUpEvent) {
			l.LogAttrs(ctx, slog.LevelWarn, MsgGiveUp,
				slog.String(KeyRetry, e.Name), slog.Int(KeyAttempts, e.Attempts),
				slog.String(KeyCause, errText(e.Cause)), slog.String(KeyError, errText(e.Err)))
		},
	}
}

// BulkheadHooks returns hooks that log the calls a bulkhead turns away to
// l (nil means slog.Default()), at Debug.
func BulkheadHooks(l *slog.Logger) bulkhead.Hooks {
	l = or(l)
	return bulkhead.Hooks{OnReject: func(ctx context.Context, e bulkhead.RejectEvent) {
		l.LogAttrs(ctx, slog.LevelDebug, MsgShed, slog.String(KeyBulkhead, e.Name), slog.Bool(KeyWaited, e.Waited))
	}}
}

// RateLimitHooks returns hooks that log the calls a rate limiter turns
// away to l (nil means slog.Default()), at Debug.
func RateLimitHooks(l *slog.Logger) ratelimit.Hooks {
	l = or(l)
	return ratelimit.Hooks{OnReject: func(ctx context.Context, e ratelimit.RejectEvent) {
		l.LogAttrs(ctx, slog.LevelDebug, MsgShed, slog.String(KeyRateLimit, e.Name), slog.Duration(KeyRetryIn, e.RetryIn))
	}}
}

// ThrottleHooks returns hooks that log the calls a throttle refuses
// locally to l (nil means slog.Default()), at Debug.
func ThrottleHooks(l *slog.Logger) throttle.Hooks {
	l = or(l)
	return throttle.Hooks{OnReject: func(ctx context.Context, e throttle.RejectEvent) {
		l.LogAttrs(ctx, slog.LevelDebug, MsgShed, slog.String(KeyThrottle, e.Name), slog.Float64(KeyProbability, e.Probability))
	}}
}

// AdaptiveHooks returns hooks that log the calls an adaptive limit turns
// away, and the changes of the limit, to l (nil means slog.Default()), at
// Debug.
func AdaptiveHooks(l *slog.Logger) adaptive.Hooks {
	l = or(l)
	return adaptive.Hooks{
		OnReject: func(ctx context.Context, e adaptive.RejectEvent) {
			l.LogAttrs(ctx, slog.LevelDebug, MsgShed, slog.String(KeyAdaptive, e.Name), slog.Int(KeyLimit, e.Limit))
		},
		OnLimitChange: func(c adaptive.LimitChange) {
			l.LogAttrs(context.Background(), slog.LevelDebug, MsgLimitChange, slog.String(KeyAdaptive, c.Name),
				slog.Int(KeyFrom, c.From), slog.Int(KeyTo, c.To))
		},
	}
}

// HedgeHooks returns hooks that log the hedges a hedging policy starts,
// and those whose answer won, to l (nil means slog.Default()), at Debug.
func HedgeHooks(l *slog.Logger) hedge.Hooks {
	l = or(l)
	log := func(msg string) func(context.Context, hedge.HedgeEvent) {
		return func(ctx context.Context, e hedge.HedgeEvent) {
			l.LogAttrs(ctx, slog.LevelDebug, msg, slog.String(KeyHedge, e.Name), slog.Int(KeyNumber, e.Hedge), slog.Duration(KeyAfter, e.After))
		}
	}
	return hedge.Hooks{OnHedge: log(MsgHedge), OnWin: log(MsgHedgeWon)}
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
