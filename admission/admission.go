// Package admission protects a server from the requests it receives: it
// admits them through a concurrency limit found from their latency, queues
// the rest for a short while, and sheds what cannot be served in time,
// lower priorities first. It is what stops a metastable failure for good:
// an overloaded server that sheds before its queue outlasts its clients'
// timeouts keeps serving what it admits (Google SRE, "Handling Overload";
// Huang et al., OSDI '22).
//
// The limit follows Envoy's adaptive concurrency filter (see LimitConfig):
// it grows while the latency of admitted requests stays near the server's
// latency without queueing, measured afresh every minute at a low
// concurrency, and shrinks as soon as requests queue inside the server.
// A request over the limit waits in a bounded queue, ordered by
// priority (Critical, then Default, then Sheddable), whose discipline keeps
// latency bounded when the queue stands, as Meta's servers do ("Fail at
// Scale", Maurer 2015, and folly's Codel):
//
//   - If the queue has been empty within the last Interval (100 ms), a
//     request may wait up to Interval, first come first served: a burst is
//     absorbed.
//   - If it has not (a standing queue: the server is overloaded), a request
//     may wait only Target (5 ms), and the newest is served first
//     (adaptive LIFO): the requests whose callers are still waiting go
//     first, and the stale ones are shed rather than served late. Critical
//     requests, served before the others, may still wait up to Interval.
//   - While the queue stands, Sheddable requests are shed on arrival; when
//     the queue is full, a request evicts a queued one of lower priority,
//     or is shed.
//   - A request whose deadline (its context's) has passed, or would pass
//     before it could be served at the current queueing delay and service
//     time, is shed before any work.
//
// A shed request gets an *outcome.RejectedError: a rejection
// (outcome.Rejected) that matches ErrShed and the Reason it was shed for
// (errors.Is(err, ReasonQueueTimeout)), and says when to come back
// (outcome.RetryAfter, Config.RetryAfter). bwhttp and bwgrpc turn it
// into 503 with Retry-After and RESOURCE_EXHAUSTED with
// grpc-retry-pushback-ms, which their clients honour.
package admission

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
)

// Priority is how much a request matters when the server must shed some.
// The zero Priority is Default.
type Priority int8

// The priorities, lowest first. They follow the criticalities of Google's
// servers: Critical for what users wait on, Default for the rest of
// production traffic, Sheddable for batch work and prefetches that may
// fail when the server is loaded.
const (
	Sheddable Priority = -1
	Default   Priority = 0
	Critical  Priority = 1
)

// priorities is the number of priorities; index converts one to [0, 3).
const priorities = 3

func (p Priority) index() int { return int(p) + 1 }

func (p Priority) String() string {
	switch p {
	case Sheddable:
		return "sheddable"
	case Default:
		return "default"
	case Critical:
		return "critical"
	}
	return "Priority(" + strconv.Itoa(int(p)) + ")"
}

// MarshalText writes the priority as String does, so that it names the
// keys of Metrics' maps in JSON.
func (p Priority) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads "critical", "default" or "sheddable" (as String
// writes them: a header's, a file's value). Anything else is an error,
// and p is left as it was.
func (p *Priority) UnmarshalText(b []byte) error {
	switch string(b) {
	case "critical":
		*p = Critical
	case "default":
		*p = Default
	case "sheddable":
		*p = Sheddable
	default:
		return fmt.Errorf("admission: unknown priority %q", b)
	}
	return nil
}

// Reason says why a request was shed. It is an error that the shed
// request's error matches: errors.Is(err, ReasonDeadline).
type Reason string

// Error returns "admission: shed (<reason>)".
func (r Reason) Error() string { return "admission: shed (" + string(r) + ")" }

// The reasons for shedding a request.
const (
	// ReasonQueueFull: the limit was reached and the queue was full of
	// requests of its priority or higher.
	ReasonQueueFull Reason = "queue-full"
	// ReasonQueueTimeout: it waited in the queue as long as it may.
	ReasonQueueTimeout Reason = "queue-timeout"
	// ReasonDeadline: its deadline had passed, or would pass before it
	// could be served.
	ReasonDeadline Reason = "deadline"
	// ReasonPriority: a request of higher priority took its place, or it
	// was Sheddable while the queue stood.
	ReasonPriority Reason = "priority"
)

var reasons = [...]Reason{ReasonQueueFull, ReasonQueueTimeout, ReasonDeadline, ReasonPriority}

func (r Reason) index() int {
	for i, x := range reasons {
		if x == r {
			return i
		}
	}
	return 0
}

// ErrShed is matched (with errors.Is) by every error of a shed request.
var ErrShed = errors.New("admission: shed")

// shedError is the Err of a shed request's *outcome.RejectedError: it
// matches ErrShed and the reason.
type shedError struct {
	priority Priority
	reason   Reason
}

func (e *shedError) Error() string {
	return "admission: shed a " + e.priority.String() + " request (" + string(e.reason) + ")"
}

// Unwrap returns ErrShed and the reason.
func (e *shedError) Unwrap() []error { return []error{ErrShed, e.reason} }

// Config describes a Controller. The zero Config is valid.
type Config struct {
	// Name identifies the controller in errors, events and metrics.
	Name string
	// Limit configures the concurrency limit found from the latency of
	// admitted requests; its zero fields mean the defaults it states.
	Limit LimitConfig
	// MaxQueue bounds the requests waiting for a slot, in [1, 1e6]. Zero
	// means 100 (the backlog of Netflix's LIFO limiter).
	MaxQueue int
	// Target is how long a request may wait while the queue stands; zero
	// means 5 ms. Interval is how long it may wait otherwise, and how long
	// the queue must go without emptying to stand; zero means 100 ms.
	// Target must not exceed Interval.
	Target, Interval time.Duration
	// RetryAfter is what shed requests tell their clients to wait, in
	// [1 ms, 1 h]. Zero means 1 s.
	RetryAfter time.Duration
	// Clock times the queue and the requests. Nil means clock.System.
	Clock clock.Clock
	// Hooks are called when requests are shed.
	Hooks Hooks
}

// Hooks are functions a controller calls; each may be nil.
type Hooks struct {
	// OnShed is called for each request shed, on the goroutine of the
	// request or of the one whose arrival or end shed it, or of the timer
	// that ended its wait. It must not block. The requests it is told of
	// are let go before it runs. A panic goes on to the caller of Admit
	// when it is told of that caller's own request, and is recovered
	// otherwise.
	OnShed func(ShedEvent)
}

// ShedEvent describes a shed request.
type ShedEvent struct {
	Name     string
	Priority Priority
	Reason   Reason
	// Waited is how long it waited in the queue.
	Waited time.Duration
}

func invalid(field, format string, args ...any) error {
	return &config.Error{Package: "admission", Field: field, Reason: fmt.Sprintf(format, args...)}
}

func (c Config) checked() (Config, error) {
	switch {
	case c.MaxQueue < 0 || c.MaxQueue > maxLimit:
		return c, invalid("MaxQueue", "must be in [0, %d], got %d", maxLimit, c.MaxQueue)
	case c.Target < 0:
		return c, invalid("Target", "must not be negative, got %v", c.Target)
	case c.Interval < 0 || c.Interval > time.Hour:
		return c, invalid("Interval", "must be in [0, 1h], got %v", c.Interval)
	case c.RetryAfter != 0 && (c.RetryAfter < time.Millisecond || c.RetryAfter > time.Hour):
		return c, invalid("RetryAfter", "must be in [1ms, 1h], got %v", c.RetryAfter)
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = 100
	}
	if c.Target == 0 {
		c.Target = 5 * time.Millisecond
	}
	if c.Interval == 0 {
		c.Interval = 100 * time.Millisecond
	}
	if c.Target > c.Interval {
		return c, invalid("Target", "must not exceed Interval (%v), got %v", c.Interval, c.Target)
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = time.Second
	}
	c.Clock = clock.Or(c.Clock)
	var err error
	c.Limit, err = c.Limit.checked()
	return c, err
}

// Controller admits requests. It is safe for concurrent use. Build one
// with New.
type Controller struct {
	cfg    Config
	limit  *limiter
	origin time.Time
	errs   [priorities][len(reasons)]*outcome.RejectedError

	queued atomic.Int64 // requests in the queue

	mu        sync.Mutex
	queue     [priorities][]*waiter // by priority, oldest first
	lastEmpty time.Duration         // when the queue was last empty, since origin

	admitted [priorities]atomic.Uint64
	shed     [priorities][len(reasons)]atomic.Uint64
	canceled atomic.Uint64
	waited   atomic.Int64 // the queueing delay of the last request served from the queue, ns
}

// waiter is a queued request. Its fields are guarded by Controller.mu;
// ready is closed once it is served or shed.
type waiter struct {
	priority Priority
	arrived  time.Duration
	deadline time.Duration // by when it must be served, since origin
	ready    chan struct{}
	start    time.Duration // when it was admitted
	inflight int64         // the requests in flight then
	err      error
	timer    clock.Timer
}

// New returns a controller described by cfg, or a *config.Error.
func New(cfg Config) (*Controller, error) {
	cfg, err := cfg.checked()
	if err != nil {
		return nil, err
	}
	c := &Controller{cfg: cfg, limit: newLimiter(cfg.Limit), origin: cfg.Clock.Now()}
	for p := range priorities {
		for r, reason := range reasons {
			c.errs[p][r] = &outcome.RejectedError{Err: &shedError{Priority(p - 1), reason}, Name: cfg.Name, After: cfg.RetryAfter}
		}
	}
	return c, nil
}

// Name returns the controller's name.
func (c *Controller) Name() string { return c.cfg.Name }

func (c *Controller) now() time.Duration { return c.cfg.Clock.Since(c.origin) }

// permit makes an admitted request's Permit.
func (c *Controller) permit(start time.Duration, inflight int64) outcome.Permit {
	return outcome.Permit{Holder: (*holder)(c), Start: start, N: inflight}
}

// holder settles the Permits a Controller hands out.
type holder Controller

// Done ends an admitted request and samples its latency for the limit
// (one that failed counts only if it was slow: a quick failure says
// nothing of queueing); its slot goes to the next queued request.
func (h *holder) Done(start time.Duration, inflight int64, err error) {
	c := (*Controller)(h)
	c.limit.release()
	c.limit.sample(start, c.now(), inflight, err != nil)
	c.freed()
}

// Release ends an admitted request without sampling it (it panicked, or
// its client went away).
func (h *holder) Release(time.Duration, int64) {
	c := (*Controller)(h)
	c.limit.release()
	c.freed()
}

// Admit admits a request of priority p, waiting in the queue if need be.
// It returns the request's Permit, an *outcome.RejectedError, or the
// context's error if it ended while the request waited. End the Permit
// exactly once: Done with the request's outcome samples its latency for
// the limit; Release, for a request that panicked or whose client went
// away, does not. Either hands the slot to the next queued request.
func (c *Controller) Admit(ctx context.Context, p Priority) (outcome.Permit, error) {
	p = max(Sheddable, min(Critical, p))
	now := c.now()
	deadline := time.Duration(1<<63 - 1)
	if d, ok := ctx.Deadline(); ok {
		deadline = d.Sub(c.origin)
		if deadline <= now || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return outcome.Permit{}, c.shedNow(p, ReasonDeadline, 0)
		}
	}
	if err := ctx.Err(); err != nil {
		c.canceled.Add(1)
		return outcome.Permit{}, err
	}
	if c.queued.Load() == 0 {
		if n, ok := c.limit.tryAcquire(p == Critical); ok {
			c.admitted[p.index()].Add(1)
			return c.permit(now, n), nil
		}
	}
	return c.wait(ctx, p, now, deadline)
}

// wait queues a request over the limit, and waits until it is served or
// shed.
func (c *Controller) wait(ctx context.Context, p Priority, now, deadline time.Duration) (outcome.Permit, error) {
	c.mu.Lock()
	standing := c.standingLocked(now)
	switch {
	case standing && p == Sheddable:
		c.mu.Unlock()
		return outcome.Permit{}, c.shedNow(p, ReasonPriority, 0)
	case deadline-now < c.expectedLocked(standing):
		c.mu.Unlock()
		return outcome.Permit{}, c.shedNow(p, ReasonDeadline, 0)
	}
	var evicted *waiter
	if int(c.queued.Load()) >= c.cfg.MaxQueue {
		evicted = c.evictBelowLocked(p)
		if evicted == nil {
			c.mu.Unlock()
			return outcome.Permit{}, c.shedNow(p, ReasonQueueFull, 0)
		}
	}
	w := &waiter{priority: p, arrived: now, deadline: deadline, ready: make(chan struct{})}
	c.queue[p.index()] = append(c.queue[p.index()], w)
	c.queued.Add(1)
	// The longest it may wait: Interval, or less if its deadline comes
	// first. A standing queue's shorter limit is applied when slots free.
	wait := min(c.cfg.Interval, deadline-now)
	w.timer = c.cfg.Clock.AfterFunc(wait, func() { c.expire(w) })
	shed := c.dispatchLocked(now)
	c.mu.Unlock()
	if evicted != nil {
		c.finishShed(evicted, ReasonPriority, now)
	}
	c.notify(shed, now)

	select {
	case <-w.ready:
	case <-ctx.Done():
		c.mu.Lock()
		if c.removeLocked(w) { // still queued: it leaves
			w.timer.Stop()
			c.mu.Unlock()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) { // its deadline came: shed for it
				return outcome.Permit{}, c.shedNow(p, ReasonDeadline, c.now()-now)
			}
			c.canceled.Add(1)
			return outcome.Permit{}, ctx.Err()
		}
		c.mu.Unlock()
		<-w.ready // served or shed meanwhile
		if w.err == nil {
			c.permit(w.start, w.inflight).Release() // its caller is gone
			c.canceled.Add(1)
			return outcome.Permit{}, ctx.Err()
		}
	}
	if w.err != nil {
		return outcome.Permit{}, w.err
	}
	c.admitted[p.index()].Add(1)
	return c.permit(w.start, w.inflight), nil
}

// standingLocked reports whether the queue has stood (not been empty) for
// the last Interval.
func (c *Controller) standingLocked(now time.Duration) bool {
	return c.queued.Load() > 0 && now-c.lastEmpty > c.cfg.Interval
}

// expectedLocked is how long a request queued now should expect to take
// before it is done: the queue's present delay and the usual service time.
func (c *Controller) expectedLocked(standing bool) time.Duration {
	var wait time.Duration
	if standing {
		wait = min(time.Duration(c.waited.Load()), c.cfg.Target)
	}
	_, minRTT, _ := c.limit.snapshot()
	return wait + minRTT
}

// evictBelowLocked takes out of the queue the newest waiter of the lowest
// priority below p, and returns it (nil if there is none).
func (c *Controller) evictBelowLocked(p Priority) *waiter {
	for i := range p.index() {
		if q := c.queue[i]; len(q) > 0 {
			w := q[len(q)-1]
			c.removeLocked(w)
			w.timer.Stop()
			return w
		}
	}
	return nil
}

// removeLocked takes w out of the queue; false if it was not in it.
func (c *Controller) removeLocked(w *waiter) bool {
	q := c.queue[w.priority.index()]
	for i, x := range q {
		if x == w {
			copy(q[i:], q[i+1:])
			q[len(q)-1] = nil
			c.queue[w.priority.index()] = q[:len(q)-1]
			if c.queued.Add(-1) == 0 {
				c.lastEmpty = c.now()
			}
			return true
		}
	}
	return false
}

// expire sheds w if it is still queued when its longest wait is up, on
// the timer's goroutine.
func (c *Controller) expire(w *waiter) {
	c.mu.Lock()
	queued := c.removeLocked(w)
	c.mu.Unlock()
	if queued {
		reason := ReasonQueueTimeout
		if c.now() >= w.deadline {
			reason = ReasonDeadline
		}
		c.finishShed(w, reason, c.now())
	}
}

// freed hands a freed slot to the queue, if anyone waits.
func (c *Controller) freed() {
	if c.queued.Load() == 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	shed := c.dispatchLocked(now)
	c.mu.Unlock()
	c.notify(shed, now)
}

// dispatchLocked serves queued requests while the limit admits them:
// the highest priority first; within one, the oldest, or the newest while
// the queue stands, when those that waited longer than Target are shed
// instead. It returns the waiters it shed, for the caller to tell once the
// lock is released.
func (c *Controller) dispatchLocked(now time.Duration) (shed []*waiter) {
	for c.queued.Load() > 0 {
		standing := c.standingLocked(now)
		var w *waiter
		for i := priorities - 1; i >= 0 && w == nil; i-- {
			q := c.queue[i]
			if len(q) == 0 {
				continue
			}
			if standing {
				// Those that waited too long are shed, oldest first:
				// longer than Target, or, for critical requests, which
				// are shed last, longer than Interval.
				limit := c.cfg.Target
				if i == Critical.index() {
					limit = c.cfg.Interval
				}
				for len(q) > 0 && now-q[0].arrived > limit {
					stale := q[0]
					c.removeLocked(stale)
					stale.timer.Stop()
					shed = append(shed, stale)
					q = c.queue[i]
				}
				if len(q) > 0 {
					w = q[len(q)-1]
				}
				continue
			}
			w = q[0]
		}
		if w == nil {
			return shed
		}
		n, ok := c.limit.tryAcquire(w.priority == Critical)
		if !ok {
			return shed // no slot: the next one freed serves it
		}
		c.removeLocked(w)
		w.timer.Stop()
		w.start, w.inflight = now, n
		c.waited.Store(int64(now - w.arrived))
		close(w.ready)
	}
	return shed
}

// notify finishes the waiters a dispatch shed for waiting too long.
func (c *Controller) notify(shed []*waiter, now time.Duration) {
	for _, w := range shed { // every waiter is let go before any hook runs
		w.err = c.count(w.priority, ReasonQueueTimeout)
		close(w.ready)
	}
	for _, w := range shed {
		c.tellOther(w.priority, ReasonQueueTimeout, now-w.arrived)
	}
}

// finishShed sheds w, taken out of the queue, for reason, on another
// goroutine than w's.
func (c *Controller) finishShed(w *waiter, reason Reason, now time.Duration) {
	w.err = c.count(w.priority, reason)
	close(w.ready)
	c.tellOther(w.priority, reason, now-w.arrived)
}

// shedNow counts a request shed, tells the hook, and returns its error.
func (c *Controller) shedNow(p Priority, reason Reason, waited time.Duration) error {
	err := c.count(p, reason)
	c.tell(p, reason, waited)
	return err
}

// count counts a request shed and returns its error.
func (c *Controller) count(p Priority, reason Reason) error {
	r := reason.index()
	c.shed[p.index()][r].Add(1)
	return c.errs[p.index()][r]
}

// tell calls the OnShed hook, if any.
func (c *Controller) tell(p Priority, reason Reason, waited time.Duration) {
	if f := c.cfg.Hooks.OnShed; f != nil {
		f(ShedEvent{Name: c.cfg.Name, Priority: p, Reason: reason, Waited: waited})
	}
}

// tellOther calls the hook for a request shed on another goroutine than
// its own (a timer's, or that of a request whose arrival or end shed it),
// after that request was let go. A panic of the hook is recovered there:
// it is not that goroutine's to take, and would otherwise end the process
// (a timer's) or leave the request that ran it queued or holding a slot.
func (c *Controller) tellOther(p Priority, reason Reason, waited time.Duration) {
	defer func() { _ = recover() }()
	c.tell(p, reason, waited)
}

// Metrics is a snapshot of a controller. The counters only grow.
type Metrics struct {
	Name string
	// Limit is the concurrency limit now; InFlight the requests admitted
	// and not done; Queued those waiting.
	Limit, InFlight, Queued int
	// MinRTT is the latency without queueing, as last measured; Measuring
	// reports that the limit is pinned while it is measured again.
	MinRTT    time.Duration
	Measuring bool
	// Standing reports a queue that has not emptied for an Interval: the
	// server is overloaded.
	Standing bool
	// QueueDelay is how long the last request served from the queue
	// waited.
	QueueDelay time.Duration
	// Admitted counts the requests admitted, by priority.
	Admitted map[Priority]uint64
	// Shed counts the requests shed, by priority and reason; only counts
	// above zero are present.
	Shed map[Priority]map[Reason]uint64
	// Canceled counts the requests whose context ended while they waited.
	Canceled uint64
}

// Metrics returns a snapshot of the controller.
func (c *Controller) Metrics() Metrics {
	limit, minRTT, measuring := c.limit.snapshot()
	c.mu.Lock()
	standing := c.standingLocked(c.now())
	c.mu.Unlock()
	m := Metrics{Name: c.cfg.Name, Limit: limit, InFlight: int(c.limit.inflight.Load()), Queued: int(c.queued.Load()),
		MinRTT: minRTT, Measuring: measuring,
		Standing: standing, QueueDelay: time.Duration(c.waited.Load()), Canceled: c.canceled.Load()}
	m.Admitted, m.Shed = map[Priority]uint64{}, map[Priority]map[Reason]uint64{}
	for i := range priorities {
		p := Priority(i - 1)
		m.Admitted[p] = c.admitted[i].Load()
		for r, reason := range reasons {
			if n := c.shed[i][r].Load(); n > 0 {
				if m.Shed[p] == nil {
					m.Shed[p] = map[Reason]uint64{}
				}
				m.Shed[p][reason] = n
			}
		}
	}
	return m
}
