// Package breaker is a circuit breaker: it stops calling a dependency that
// keeps failing, so that callers fail fast instead of piling up behind it,
// and lets a few probe calls through after a cool-down to find out whether
// the dependency has recovered.
//
//	         failures reach the threshold
//	CLOSED ─────────────────────────────────▶ OPEN ◀─────┐  rejects calls
//	  ▲                                         │         │  with ErrOpen
//	  │                         OpenDuration    │         │
//	  │                         has elapsed     ▼         │ a probe fails
//	  └─────────────────────────────────── HALF-OPEN ─────┘
//	    HalfOpen.SuccessesToClose          at most HalfOpen.Max
//	    probes succeed                     probes a period
//
// What trips a closed circuit is one choice, Config.Trip: Consecutive
// failures in a row (3 by default), a failure rate or slow-call rate over
// a CountWindow of the last calls or a TimeWindow of the last stretch of
// time, or a TripFunc of the counts. The open duration can grow on
// repeated trips.
// ForceOpen and Disable put the circuit in the ForcedOpen and Disabled
// states for emergencies; Reset closes it. [Breaker.Snapshot] reads a
// circuit's state out and [Breaker.Restore] puts it into another breaker:
// a state file or a shared store (bwredis) drives breakers that way.
//
// Outcomes are classified as success, failure or ignored (see
// Config.IsFailure, FailOn and Ignore). By default every error is a failure
// except context.Canceled: the caller gave up, the dependency did not fail.
// A panic counts as a failure and is not recovered.
//
// The half-open state's knobs are one group, Config.HalfOpen (Probes): a
// half-open period lets Max probes through in all (InFlight bounds those
// running at once instead).
//
// There are two ways to protect a call: [Breaker.Do] for a function, and
// [Breaker.Allow] with [outcome.Permit.Done] around any block of code (the
// two-step shape every admitting policy shares). For a function that
// returns a value, or to stack the breaker with retry, timeout and
// others, use package breakwater's Wrap.
//
// A call in the closed state costs a few atomic operations and allocates
// nothing (through Allow, unless hooks need its context kept: see Allow);
// a rejected call allocates nothing. Time is read only when a
// feature needs it (slow calls, a time window, call hooks), through the
// Config's clock.Clock, so tests can use clocktest.Fake.
package breaker
