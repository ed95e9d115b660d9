package outcome

import "github.com/breakwater-go/breakwater/internal/ticket"

// Permit is the right to make one call, handed out by the Allow method of
// each policy that admits calls (breaker, bulkhead, throttle, adaptive
// limit) and by an admission controller's Admit: the two-step form, for
// code that cannot be put in a function. End it exactly once, even if the
// call panics (use defer): Done with the call's error, or Release for a
// call that says nothing of the dependency. A permit that is never ended
// keeps its slot (a half-open probe, a bulkhead's place) for good.
//
// The zero Permit's Done and Release do nothing. Its fields are the
// policy's that made it.
type Permit ticket.Ticket

// Done ends the permitted call and reports its outcome: its error, or nil.
// Each policy reads err as it reads the error of a call it runs (a breaker
// through its IsFailure, a throttle as its verdict).
func (p Permit) Done(err error) {
	if p.Holder != nil {
		p.Holder.Done(p.Start, p.N, err)
	}
}

// Release ends the permit without a verdict, for a call that was never
// sent or failed for a reason of the caller's own: its slot is given back
// and nothing is counted against the dependency (a breaker counts it
// ignored).
func (p Permit) Release() {
	if p.Holder != nil {
		p.Holder.Release(p.Start, p.N)
	}
}
