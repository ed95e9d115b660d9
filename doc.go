// Package breakwater keeps a Go service standing when what it calls is
// flaky or down.
//
// Wrap stacks policies over any call of the shape
// func(context.Context) (T, error), outermost first, and returns a function
// of the same shape: the decorator. The policies are the values the policy
// packages make (a *retry.Policy, a *breaker.Breaker, ...), passed as they
// are: Wrap(fn, retries, circuit). WrapWith does the same for a function
// whose results the stack must know about (Results: failures, results to
// drop or keep, a fallback); Execute and Do run a call once through a
// stack. See Wrap for the order to choose.
//
// The policies live in their own packages, each usable alone:
//
//   - breaker: a circuit breaker (consecutive failures, or a failure or
//     slow-call rate over a count or time window; half-open probes;
//     forced states; hooks; metrics).
//   - retry: retry with backoff and jitter, time limits, Retry-After
//     hints and a retry budget.
//   - timeout: time limits that abandon calls ignoring their context.
//   - hedge: a second attempt alongside a slow one.
//   - bulkhead, ratelimit, throttle, adaptive: load shedding (a bound on
//     calls in flight, a rate, adaptive throttling, a concurrency limit
//     found from latency).
//   - admission: the other side, for servers: requests admitted through a
//     concurrency limit found from latency, a short queue that sheds what
//     waits too long, priorities and deadlines.
//   - registry: a policy per key (a host, a tenant), bounded; every
//     per-key policy's NewRegistry makes one.
//   - fallback: substitute results.
//   - attempt: which attempt of a call is running.
//   - outcome: what the end of a call means to the policies (a rejection,
//     a verdict for the breaker, retry marks, a delay asked for), and the
//     Permit of the two-step form (Allow, then Done) of every policy.
//   - stackfile: named policies and stacks from a JSON file, with
//     environment overrides, kept in force while the file changes.
//   - config: the one error an invalid Config is refused with
//     (*config.Error, naming the package and the field; config.ErrInvalid).
//   - bwhttp: a RoundTripper, a client, a handler with admission control
//     and a health handler for net/http.
//   - watch, bwslog and dashboard: what exporters read (a list of the
//     policies to report), slog hooks, and a live page of the circuits.
//   - clock and clock/clocktest: the time seam every component takes, and
//     a fake clock for tests.
//
// # Writing a policy
//
// A policy is any value with an Apply method: given next, the layers
// inside it, it returns what runs in their place. Wrap calls Apply once per
// stack; the function it returns runs for every call, on many goroutines
// at once, so keep per-call state in its variables, not in the policy.
//
//	func Logged(log *slog.Logger) breakwater.Policy {
//		return breakwater.PolicyFunc(func(next breakwater.Next) breakwater.Next {
//			return func(ctx context.Context, call breakwater.Call) error {
//				err := next(ctx, call)
//				log.InfoContext(ctx, "call", "attempt", attempt.From(ctx).Number, "error", err)
//				return err
//			}
//		})
//	}
//
// The rules:
//
//   - Pass call on untouched: it carries the result, whose type only the
//     stack knows. Running next again with the same call (a retry) makes
//     the last run's result the stack's.
//   - To run next several times at once (hedging), give each run its own
//     call.Fork(), call.Adopt the winner's, and Release each fork once its
//     run has returned (not before: a run still going writes into it).
//   - You may stop waiting for a run of next (a time limit) and return:
//     once the call has returned, whatever that run writes into its call
//     is dropped, never seen by another call.
//   - To turn a call away without running it, return an
//     *outcome.RejectedError (or any error with a Rejected() bool method
//     that says true): retry policies do not retry it, a breaker counts it
//     as neither success nor failure, and outcome.Rejected accepts it. If
//     you know when calls will be let through again, set its After (or
//     give your error a RetryAfter() time.Duration method; outcome.RetryAfter
//     reads either), and implement Gater, so that a retry or hedge around
//     you asks before it waits.
//   - A policy that runs attempts of its own tells each which it is with
//     attempt.With.
//   - Honour ctx; return next's error unless you mean to change it.
//
// The built-in policies are built for the stack's result type, from their
// Do methods (retry, hedge and timeout: their generic ExecuteWith), and
// allocate nothing per call; Compose makes the same layers into one
// Policy, for a policy that runs them inside it. A policy of another
// package costs a pooled result holder where it sits, allocation-free once
// warm.
//
// The core module requires no third-party module; integrations that do
// (Redis, Prometheus, OpenTelemetry, gRPC) are nested modules of their own,
// such as bwgrpc.
package breakwater
