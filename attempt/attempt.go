// Package attempt tells a protected function which attempt of its call is
// running: the first, a retry, or a hedge. Retry and hedge policies put it
// in each attempt's context; code that sends requests reads it to tell the
// server (bwhttp's Config.AttemptHeader, gRPC's grpc-previous-rpc-attempts)
// or to log it.
//
// The time an attempt has left is its context's: ctx.Deadline().
package attempt

import "context"

// Kind says why an attempt runs.
type Kind uint8

// The kinds of attempt.
const (
	// First is the call's first attempt.
	First Kind = iota
	// Retry is an attempt after one that failed.
	Retry
	// Hedge is an attempt run alongside one still running, because it was
	// slow to answer.
	Hedge
)

func (k Kind) String() string {
	switch k {
	case First:
		return "first"
	case Retry:
		return "retry"
	case Hedge:
		return "hedge"
	}
	return "unknown"
}

// Info describes one attempt.
type Info struct {
	// Number is the attempt's place in its call, from 1 (the first).
	Number int
	// Kind says why the attempt runs.
	Kind Kind
}

// Previous returns the number of attempts the call made before this one:
// gRPC's grpc-previous-rpc-attempts.
func (i Info) Previous() int { return i.Number - 1 }

type key struct{}

// With returns a context for the attempt i, for a policy that runs
// attempts of its own.
func With(ctx context.Context, i Info) context.Context {
	return context.WithValue(ctx, key{}, i)
}

// From returns the attempt ctx belongs to: the one the innermost retry or
// hedge policy set, or the first attempt when none did.
func From(ctx context.Context) Info {
	if i, ok := ctx.Value(key{}).(Info); ok {
		return i
	}
	return Info{Number: 1, Kind: First}
}
