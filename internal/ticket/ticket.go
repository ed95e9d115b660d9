// Package ticket holds what a policy keeps in an outcome.Permit: the
// policy to settle with and the call it admitted. outcome.Permit is
// defined as a Ticket, so a policy writes outcome.Permit{Holder: ...} and
// package outcome has the one Permit type every policy hands out, with no
// constructor users would have to learn. A policy implements Holder on an
// unexported type (type holder Breaker), out of its documentation.
package ticket

import (
	"context"
	"time"
)

// Holder is a policy that hands out permits: Settle ends the call t was
// made for. reported says whether err is the call's outcome (Done) or the
// permit was given back without one (Release).
type Holder interface {
	Settle(t Ticket, err error, reported bool)
}

// Ticket is the content of an outcome.Permit.
type Ticket struct {
	// Holder settles the permit; nil makes Done and Release do nothing.
	Holder Holder
	// Ctx is the call's context, for hooks that are given it.
	Ctx context.Context
	// Ref is the holder's own reference (a breaker's epoch).
	Ref any
	// Start is when the call was admitted, on the holder's clock.
	Start time.Duration
	// N is the holder's own number (the calls in flight at admission, a
	// slot).
	N int64
}
