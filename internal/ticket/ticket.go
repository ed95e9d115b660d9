// Package ticket holds what a policy keeps in an outcome.Permit: the
// policy to settle with and two numbers of its own. outcome.Permit is
// defined as a Ticket, so a policy writes outcome.Permit{Holder: ...} and
// package outcome has the one Permit type every policy hands out, with no
// constructor users would have to learn. A policy implements Holder on an
// unexported type (type holder Bulkhead), out of its documentation.
//
// A Ticket is four words, three fields: the compiler keeps a value that
// small in registers, where a larger one goes through memory and costs a
// two-step call (Allow, then Done) about 10 ns more. A policy that needs
// more than two numbers points its Holder at what it needs (a breaker's
// Holder is the circuit's epoch).
package ticket

import "time"

// Holder is a policy that hands out permits: Done ends the call a permit
// was given for with its outcome, Release without one. start and n are the
// permit's.
type Holder interface {
	Done(start time.Duration, n int64, err error)
	Release(start time.Duration, n int64)
}

// Ticket is the content of an outcome.Permit.
type Ticket struct {
	// Holder settles the permit; nil makes Done and Release do nothing.
	Holder Holder
	// Start is when the call was admitted, on the holder's clock.
	Start time.Duration
	// N is the holder's own number (the calls in flight at admission, a
	// slot).
	N int64
}
