package bwotel

import (
	"context"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/retry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Span events the trace hooks add to the span of the call's context.
const (
	EventRetry       = "breakwater.retry"         // an attempt failed and another follows after a delay
	EventGiveUp      = "breakwater.retry.give_up" // a limit stopped the retries
	EventRejected    = "breakwater.rejected"      // an open circuit turned the call away
	EventStateChange = "breakwater.state_change"  // the call's outcome changed its circuit's state
	EventHedge       = "breakwater.hedge"         // a hedge started
	EventHedgeWon    = "breakwater.hedge.won"     // a hedge's answer won
)

// Attribute keys of the span events.
const (
	AttrCircuit  = attribute.Key("breakwater.circuit")
	AttrState    = attribute.Key("breakwater.state")
	AttrFrom     = attribute.Key("breakwater.from")
	AttrTo       = attribute.Key("breakwater.to")
	AttrReason   = attribute.Key("breakwater.reason")
	AttrRetry    = attribute.Key("breakwater.retry")
	AttrAttempt  = attribute.Key("breakwater.attempt")  // the attempt that failed, from 1
	AttrAttempts = attribute.Key("breakwater.attempts") // attempts made
	AttrDelay    = attribute.Key("breakwater.delay_ms") // before the next attempt
	AttrCause    = attribute.Key("breakwater.cause")    // why retrying stopped
	AttrError    = attribute.Key("breakwater.error")
	AttrHedge    = attribute.Key("breakwater.hedge")
	AttrNumber   = attribute.Key("breakwater.hedge.number")   // from 1
	AttrAfter    = attribute.Key("breakwater.hedge.after_ms") // since the call started
)

// BreakerSpanHooks returns breaker hooks that record on the caller's span
// (the one in the call's context) each rejection by an open circuit, and
// each state change a call's outcome makes: the trip, and a probe closing
// or reopening the circuit. Changes no call made (a cool-down's end, Trip)
// belong to no span and are not recorded. A context without a recording
// span costs a lookup. Join them with others with breaker.JoinHooks.
func BreakerSpanHooks() breaker.Hooks {
	return breaker.Hooks{
		OnReject: func(ctx context.Context, e breaker.RejectEvent) {
			if span := trace.SpanFromContext(ctx); span.IsRecording() {
				span.AddEvent(EventRejected, trace.WithAttributes(AttrCircuit.String(e.Name), AttrState.String(e.State.String())))
			}
		},
		OnStateChange: func(c breaker.StateChange) {
			if span := trace.SpanFromContext(c.Context); span.IsRecording() {
				span.AddEvent(EventStateChange, trace.WithAttributes(AttrCircuit.String(c.Name),
					AttrFrom.String(c.From.String()), AttrTo.String(c.To.String()), AttrReason.String(c.Reason.String())))
			}
		},
	}
}

// RetrySpanHooks returns retry hooks that record each retry (the attempt
// that failed, its error, the delay) and a give-up on the caller's span.
func RetrySpanHooks() retry.Hooks {
	return retry.Hooks{
		OnRetry: func(ctx context.Context, e retry.RetryEvent) {
			if span := trace.SpanFromContext(ctx); span.IsRecording() {
				attrs := []attribute.KeyValue{AttrRetry.String(e.Name), AttrAttempt.Int(e.Attempt), AttrDelay.Int64(e.Delay.Milliseconds())}
				if e.Err != nil {
					attrs = append(attrs, AttrError.String(e.Err.Error()))
				}
				span.AddEvent(EventRetry, trace.WithAttributes(attrs...))
			}
		},
		OnGiveUp: func(ctx context.Context, e retry.GiveUpEvent) {
			if span := trace.SpanFromContext(ctx); span.IsRecording() {
				attrs := []attribute.KeyValue{AttrRetry.String(e.Name), AttrAttempts.Int(e.Attempts)}
				if e.Cause != nil {
					attrs = append(attrs, AttrCause.String(e.Cause.Error()))
				}
				if e.Err != nil {
					attrs = append(attrs, AttrError.String(e.Err.Error()))
				}
				span.AddEvent(EventGiveUp, trace.WithAttributes(attrs...))
			}
		},
	}
}

// HedgeSpanHooks returns hedging hooks that record each hedge started and
// each hedge that won on the caller's span.
func HedgeSpanHooks() hedge.Hooks {
	event := func(name string) func(context.Context, hedge.HedgeEvent) {
		return func(ctx context.Context, e hedge.HedgeEvent) {
			if span := trace.SpanFromContext(ctx); span.IsRecording() {
				span.AddEvent(name, trace.WithAttributes(AttrHedge.String(e.Name), AttrNumber.Int(e.Hedge), AttrAfter.Int64(e.After.Milliseconds())))
			}
		}
	}
	return hedge.Hooks{OnHedge: event(EventHedge), OnWin: event(EventHedgeWon)}
}
