// Package breakwater keeps a Go service standing when what it calls is
// flaky or down.
//
// Wrap stacks policies over any call of the shape
// func(context.Context) (T, error), outermost first, and returns a function
// of the same shape: the decorator. Execute and Do run a call once through
// a stack. See Wrap for the order to choose.
//
// The policies live in their own packages, each usable alone:
//
//   - breaker: a circuit breaker (consecutive failures, or a failure or
//     slow-call rate over a count or time window; half-open probes;
//     forced states; hooks; metrics; a registry by key).
//   - retry: retry with backoff and jitter, time limits, Retry-After
//     hints and a retry budget.
//   - timeout: time limits that abandon calls ignoring their context.
//   - fallback: substitute results.
//   - bwhttp: a RoundTripper, a client and a health handler for net/http.
//   - clock and clock/clocktest: the time seam every component takes, and
//     a fake clock for tests.
//
// The core module requires no third-party module; integrations that do
// (Redis, Prometheus, OpenTelemetry, gRPC) are nested modules of their own,
// such as bwgrpc.
package breakwater
