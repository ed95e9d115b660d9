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
// half-opening at Info; a retry at Info, giving up at Warn. Attach the hooks
// when building a policy; a policy without them pays nothing.
package bwslog

import (
	"context"
	"log/slog"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/retry"
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
		l.LogAttrs(context.Background(), level, "circuit "+c.To.String(),
			slog.String(KeyBreaker, c.Name), slog.String(KeyFrom, c.From.String()), slog.String(KeyTo, c.To.String()))
	}}
}

// RetryHooks returns hooks that log a retry policy's retries and give-ups
// to l (nil means slog.Default()).
func RetryHooks(l *slog.Logger) retry.Hooks {
	if l == nil {
		l = slog.Default()
	}
	return retry.Hooks{
		OnRetry: func(e retry.RetryEvent) {
			l.LogAttrs(context.Background(), slog.LevelInfo, "retrying",
				slog.String(KeyRetry, e.Name), slog.Int(KeyAttempt, e.Attempt),
				slog.Duration(KeyDelay, e.Delay), slog.String(KeyError, errText(e.Err)))
		},
		OnGiveUp: func(e retry.GiveUpEvent) {
			l.LogAttrs(context.Background(), slog.LevelWarn, "retries exhausted",
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
