// Package throttle is client-side adaptive throttling, from the Google SRE
// book ("Handling Overload"): a client that sees its dependency refuse
// more and more of its calls starts refusing calls itself, locally and at
// no cost to the dependency, with probability
//
//	min(max(0, (requests − K·accepts) / (requests + 1)), MaxProbability)
//
// over a sliding window (2 minutes by default), requests counting the
// calls sent to the dependency whose outcome is known and accepts those
// it accepted. A call counts when it ends, as gRPC's adaptive throttler
// counts it: calls in flight are neither accepted nor refused yet.
//
// Two choices depart from the book, as Envoy's admission control and
// failsafe-go's throttler do: calls refused locally are not counted as
// requests, and the probability is capped (0.9 by default). The book's
// rule, which counts them, with nothing capping it, is a latch: once the
// probability nears 1 it refuses the very calls whose success would lower
// it, and after a minute's outage it took more than ten minutes of full
// health to send most calls again. Here a tenth of the calls at least
// keeps reaching the dependency, each success counts fully, and a
// dependency that recovers is used again within one window at most (in
// about 30 s after a minute's outage, at any rate).
//
// Which outcomes are refusals is the caller's to say (Config.Refused): a
// 429 or a gRPC ResourceExhausted is one; a 404 is an answer.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
)

// Defaults applied to the zero fields of a Config.
const (
	defaultK       = 2.0             // the SRE book's
	defaultWindow  = 2 * time.Minute // the SRE book's
	defaultBuckets = 24
	// defaultMaxProbability is failsafe-go's cap; Envoy's is 0.8.
	defaultMaxProbability = 0.9
)

// Config describes a throttle.
type Config struct {
	// Name identifies the throttle in errors, events and metrics.
	Name string
	// K is how many times what the dependency accepts the client may send
	// it, in [1, 100]. Lower is more aggressive: 1.1 sheds nearly all the
	// excess, 2 keeps probing at twice the accepted rate. Zero means 2.
	K float64
	// MaxProbability caps the probability of refusing a call, in (0, 1],
	// so that some calls always reach the dependency and tell when it has
	// recovered. Zero means 0.9.
	MaxProbability float64
	// Window is how far back the counts go. Zero means 2 minutes.
	Window time.Duration
	// Buckets is the number of buckets of the window, in [1, 1000]: it
	// slides one bucket at a time. Zero means 24.
	Buckets int
	// Refused decides whether a call's error is the dependency refusing it
	// (overloaded, throttling); other errors are answers, and count as
	// accepted. Nil means every error is a refusal.
	Refused func(err error) bool
	// Rand returns random numbers in [0, 1). Nil means math/rand/v2.
	Rand func() float64
	// Clock is the time source. Nil means clock.System.
	Clock clock.Clock
	// Hooks are called when calls are refused locally.
	Hooks Hooks
}

// Hooks are functions a throttle calls; each may be nil. They run on the
// caller's goroutine, with the call's context.
type Hooks struct {
	// OnReject is called for each call refused locally.
	OnReject func(ctx context.Context, e RejectEvent)
}

// RejectEvent describes a call refused locally.
type RejectEvent struct {
	Name        string
	Probability float64 // the probability of refusal it was refused with
}

func invalid(field, format string, args ...any) error {
	return &config.Error{Package: "throttle", Field: field, Reason: fmt.Sprintf(format, args...)}
}

func (c Config) checked() (Config, error) {
	switch {
	case c.K != 0 && !(c.K >= 1 && c.K <= 100): // also NaN
		return c, invalid("K", "must be in [1, 100], got %v", c.K)
	case c.MaxProbability != 0 && !(c.MaxProbability > 0 && c.MaxProbability <= 1):
		return c, invalid("MaxProbability", "must be in (0, 1], got %v", c.MaxProbability)
	case c.Window < 0:
		return c, invalid("Window", "must not be negative, got %v", c.Window)
	case c.Buckets < 0 || c.Buckets > 1000:
		return c, invalid("Buckets", "must be in [0, 1000], got %d", c.Buckets)
	}
	if c.K == 0 {
		c.K = defaultK
	}
	if c.MaxProbability == 0 {
		c.MaxProbability = defaultMaxProbability
	}
	if c.Window == 0 {
		c.Window = defaultWindow
	}
	if c.Buckets == 0 {
		c.Buckets = defaultBuckets
	}
	if time.Duration(c.Buckets) > c.Window {
		return c, invalid("Buckets", "%d buckets do not fit in a Window of %v", c.Buckets, c.Window)
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	c.Clock = clock.Or(c.Clock)
	return c, nil
}

// ErrThrottled is matched (with errors.Is) by every error a throttle
// returns for a call it refused locally: an *outcome.RejectedError, a
// rejection. One value is made per throttle, so refusing allocates
// nothing.
var ErrThrottled = errors.New("throttle: refused locally")

// Throttle refuses calls locally in proportion to how many the dependency
// refuses. It is safe for concurrent use. Build one with New.
type Throttle struct {
	cfg    Config
	err    *outcome.RejectedError
	origin time.Time
	width  time.Duration // of a bucket

	mu                 sync.Mutex
	buckets            []bucket
	head               int64 // the newest bucket's number
	requests, accepts  int64 // the window's totals
	throttled, refused uint64
	admitted           atomic.Uint64
	// calm is set while the window's probability of refusal is 0, as it
	// was when the totals last changed: a call is then let through
	// without the lock or the clock, the common case of a healthy
	// dependency. Each outcome counted slides the window and sets it
	// again.
	calm atomic.Bool
}

type bucket struct{ requests, accepts int64 }

// New returns a throttle described by cfg, or a *config.Error.
func New(cfg Config) (*Throttle, error) {
	cfg, err := cfg.checked()
	if err != nil {
		return nil, err
	}
	return newThrottle(cfg), nil
}

// newThrottle returns a throttle of a checked config.
func newThrottle(cfg Config) *Throttle {
	t := &Throttle{
		cfg: cfg, err: &outcome.RejectedError{Err: ErrThrottled, Name: cfg.Name}, origin: cfg.Clock.Now(),
		width: cfg.Window / time.Duration(cfg.Buckets), buckets: make([]bucket, cfg.Buckets),
	}
	t.calm.Store(true) // an empty window refuses nothing
	return t
}

// busy reports a throttle that refuses calls now: forgetting it would let
// through the flood it holds back.
func (t *Throttle) busy() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.advanceLocked()
	return t.probabilityLocked() > 0
}

// Name returns the throttle's name.
func (t *Throttle) Name() string { return t.cfg.Name }

// advanceLocked expires the buckets that slid out of the window by now,
// and returns the current bucket.
func (t *Throttle) advanceLocked() *bucket {
	n := int64(t.cfg.Clock.Since(t.origin) / t.width)
	if n > t.head {
		steps := min(n-t.head, int64(len(t.buckets)))
		for i := int64(1); i <= steps; i++ {
			b := &t.buckets[(t.head+i)%int64(len(t.buckets))]
			t.requests -= b.requests
			t.accepts -= b.accepts
			*b = bucket{}
		}
		t.head = n
		t.calm.Store(t.probabilityLocked() == 0)
	}
	return &t.buckets[t.head%int64(len(t.buckets))]
}

// probabilityLocked is the SRE formula over the window's totals, capped.
func (t *Throttle) probabilityLocked() float64 {
	p := (float64(t.requests) - t.cfg.K*float64(t.accepts)) / float64(t.requests+1)
	return min(max(0, p), t.cfg.MaxProbability)
}

// Allow asks for one call: the first step of the two-step form. It
// returns a Permit, or refuses the call locally with an error matching
// ErrThrottled (a refusal is not counted as a request). The Permit's Done
// reports the call's outcome and counts its request, as Do counts the
// error of the function it runs; Release gives it back unreported, and no
// request is counted.
func (t *Throttle) Allow(ctx context.Context) (outcome.Permit, error) {
	if err := t.allow(ctx); err != nil {
		return outcome.Permit{}, err
	}
	return outcome.Permit{Holder: (*holder)(t)}, nil
}

// holder settles the Permits a Throttle hands out.
type holder Throttle

// Done counts the request of a Permit from Allow.
func (h *holder) Done(_ time.Duration, _ int64, err error) { (*Throttle)(h).done(err) }

// Release counts nothing.
func (h *holder) Release(time.Duration, int64) {}

// allow is Allow without the Permit.
func (t *Throttle) allow(ctx context.Context) error {
	if t.calm.Load() {
		t.admitted.Add(1)
		return nil
	}
	t.mu.Lock()
	p := t.admitLocked(0)
	t.mu.Unlock()
	if p == 0 {
		return nil
	}
	draw := t.cfg.Rand() // a user's function: not under the lock
	t.mu.Lock()
	p = t.admitLocked(draw)
	if p != 0 {
		t.throttled++
	}
	t.mu.Unlock()
	if p == 0 {
		return nil
	}
	if f := t.cfg.Hooks.OnReject; f != nil {
		f(ctx, RejectEvent{Name: t.cfg.Name, Probability: p})
	}
	return t.err
}

// admitLocked returns 0, counting the call admitted, if the probability
// of refusal now is 0 or at most draw, in [0, 1); it returns the
// probability otherwise.
func (t *Throttle) admitLocked(draw float64) float64 {
	t.advanceLocked()
	p := t.probabilityLocked() // over the calls ended before this one: the +1 is this one
	if p > draw {
		return p
	}
	t.admitted.Add(1)
	return 0
}

// done counts the request of a call that ended with err, as Do's doc
// says.
func (t *Throttle) done(err error) {
	if err != nil && err != errPanicked {
		o, marked := outcome.VerdictOf(err)
		switch {
		case marked && o == outcome.Ignored,
			!marked && (outcome.Rejected(err) || errors.Is(err, context.Canceled)):
			return
		case marked && o == outcome.Success:
			err = nil
		}
	}
	t.count(err != nil && (err == errPanicked || t.cfg.Refused == nil || t.refusedBy(err)))
}

// refusedBy asks Config.Refused about err. If Refused panics, the call
// is counted as refused and the panic goes on.
func (t *Throttle) refusedBy(err error) bool {
	asked := false
	defer func() {
		if !asked {
			t.count(true)
		}
	}()
	refused := t.cfg.Refused(err)
	asked = true
	return refused
}

// count counts the request of a call that ended, accepted or refused.
func (t *Throttle) count(refused bool) {
	t.mu.Lock()
	b := t.advanceLocked()
	b.requests++
	t.requests++
	if refused {
		t.refused++
	} else {
		b.accepts++
		t.accepts++
	}
	t.calm.Store(t.probabilityLocked() == 0)
	t.mu.Unlock()
}

// Do runs fn unless the throttle refuses the call locally, and counts its
// outcome. It returns fn's error, or an error matching ErrThrottled. A
// call that panics counts as refused, and the panic goes on.
//
// A call the dependency did not refuse counts as accepted. A call that
// says nothing of the dependency is not counted at all: one a policy
// inside the throttle turned away (an error with a Rejected() bool method
// saying true: a bulkhead full, a circuit open), one its caller cancelled
// (context.Canceled), one an integration marked outcome.Ignored. An error
// an integration marked outcome.Success is an answer, accepted; only
// errors marked outcome.Failure, or unmarked, are put to Config.Refused.
func (t *Throttle) Do(ctx context.Context, fn func(context.Context) error) (err error) {
	if err = t.allow(ctx); err != nil {
		return err
	}
	err = errPanicked
	defer func() { t.done(err) }()
	err = fn(ctx)
	return err
}

// errPanicked stands, in Done, for a call that panicked.
var errPanicked = errors.New("throttle: call panicked")

// Metrics is a snapshot of a throttle.
type Metrics struct {
	Name string
	// Requests and Accepts are the window's counts.
	Requests, Accepts int64
	// Probability is the probability with which a call is refused now.
	Probability float64
	// Admitted counts the calls let through, Throttled the calls refused
	// locally, Refused the calls the dependency refused. They only grow.
	Admitted, Throttled, Refused uint64
}

// Metrics returns a snapshot of the throttle.
func (t *Throttle) Metrics() Metrics {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.advanceLocked()
	return Metrics{Name: t.cfg.Name, Requests: t.requests, Accepts: t.accepts,
		Probability: t.probabilityLocked(), Admitted: t.admitted.Load(), Throttled: t.throttled, Refused: t.refused}
}
