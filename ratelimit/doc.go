// Package ratelimit bounds the rate of calls to a dependency with a token
// bucket: Rate tokens a second, up to Burst of them saved up.
//
// Burst 1 (the default) spaces calls evenly, one every 1/Rate: the smooth
// mode. A larger Burst lets that many calls through at once after a quiet
// spell, then the rate: the bursty mode. Allow answers at once; Wait
// waits for a token, honouring its context and never waiting past its
// deadline (a wait that would end after it is refused at once, without
// taking a token); Do waits at most MaxWait.
//
// The bucket is one atomic word (the generic cell rate algorithm: the
// time the next call conforms, its "theoretical arrival time"), so
// admitting a call is a load and a compare-and-swap, and allocates
// nothing. It takes explicit times from a clock.Clock, so tests run on a
// fake one. It is written here rather than built on golang.org/x/time/rate
// (whose Limiter also takes explicit times) so that the core module keeps
// no require lines, and because a lock-free bucket is a few lines: the
// bench module measures both.
//
// NewRegistry keeps a limiter per key (per client, per host), evicting
// those whose bucket has refilled: such a limiter is no different from a
// new one, so eviction never changes a decision.
package ratelimit
