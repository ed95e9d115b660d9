// Package bulkhead bounds the calls in flight to a dependency, so that one
// slow dependency cannot take every goroutine, connection or file of the
// service with it.
//
// A Bulkhead lets at most MaxConcurrent calls run at once. A call beyond
// that is turned away at once with an error matching ErrFull, or, with a
// queue (MaxQueue), waits in line, first come first served, for at most
// MaxWait and never past its context: a caller that gives up leaves the
// queue at once. Admission and release on the fast path are two atomic
// operations on a counter of the caller's own stripe (the slots are shared
// out over up to eight, so that calls on different cores do not contend
// for one cache line); a rejection allocates nothing.
//
// It is resilience4j's semaphore bulkhead and Polly's concurrency limiter.
package bulkhead
