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
// half-opening at Info; a retry at Info, giving up at Warn. Retry records
// carry the call's context, so a trace-aware handler ties them to the
// caller's trace. Attach the hooks when building a policy; a policy without
// them pays nothing.
package bwslog

import (
	"context"
	"log/slog"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/retry"
)

// Messages of the records: constant, so that they can be searched and
// counted; the details are in the attributes.
const (
	MsgStateChange = "circuit state changed"
	MsgRetry       = "retrying"
	MsgGiveUp      = "retries exhausted"
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
)

// BreakerHooks returns hooks that log a breaker's state changes to l (nil
// means slog.Default()). Join them with others with breaker.JoinHooks.
func BreakerHooks(l *slog.Logger) breaker.Hooks {
	if l == nil {
		l = slog.Default()
	}
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
		l.LogAttrs(context.Background(), level, MsgStateChange, attrs...) // a state change is no call's
	}}
}

// RetryHooks returns hooks that log a retry policy's retries and give-ups
// to l (nil means slog.Default()).
func RetryHooks(l *slog.Logger) retry.Hooks {
	if l == nil {
		l = slog.Default()
	}
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

func errText(err error) string {
	if err == nil {
		return "" // a retried result, not an error
	}
	return err.Error()
}
