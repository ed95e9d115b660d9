// Package hedge cuts tail latency with a bounded number of extra attempts
// ("The Tail at Scale", Dean and Barroso): when a call has not answered
// after a delay, a hedge starts alongside it; the first acceptable answer
// wins, and the others' contexts are cancelled at once.
//
// The delay is fixed, a function of the hedge's number, or the observed
// latency's quantile (start a hedge at the p95 of recent successful
// calls), kept in fixed memory. Hedges are budgeted, a share of calls, so
// that they cannot multiply the load during an incident; a Gate (a
// breaker's) stops them while it would reject them.
//
// A failed attempt whose error may be retried (not marked permanent, or as
// Config.Retryable says) starts the next hedge at once, as gRPC's hedging
// does for non-fatal codes; one that may not ends the call with its error.
// When every attempt has failed, the call fails with the last error.
package hedge

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
)

// Defaults applied to the zero fields of a Config.
const (
	defaultMaxHedges   = 1   // Polly's, failsafe-go's
	defaultBudgetRatio = 0.1 // hedges are at most a tenth of calls, after a burst of BudgetBurst
	defaultBudgetBurst = 10
	defaultSamples     = 1000
	defaultMinSamples  = 100
)

// minBudgetRatio is the smallest BudgetRatio: one hedge per million calls.
const minBudgetRatio = 1e-6

// budgetUnit is one hedge in the ratio budget's fixed point: fine enough
// that every ratio from minBudgetRatio is kept to within 0.03 %.
const budgetUnit = 1 << 32

// Config describes a hedging policy. Delay, DelayFunc or Quantile is
// required.
type Config struct {
	// Name identifies the policy in events and metrics.
	Name string
	// MaxHedges is the number of extra attempts, in [1, 10]. Zero means 1.
	MaxHedges int
	// Delay is how long a call goes without an answer before each hedge
	// starts: a fixed delay, or, with Quantile, the delay until enough
	// latencies are known. Positive, unless DelayFunc is set.
	Delay time.Duration
	// DelayFunc, when set, returns the delay before hedge n (from 1).
	DelayFunc func(n int) time.Duration
	// Quantile, in (0, 1), derives the delay from the latency of the last
	// Samples successful calls: 0.95 starts a hedge once a call is slower
	// than 95 % of them. Until MinSamples are known, Delay is used.
	Quantile float64
	// Samples and MinSamples size the latency record, in [1, 100000].
	// Zero means 1,000 and 100.
	Samples, MinSamples int
	// BudgetRatio is the share of calls that may be hedged over time, in
	// [1e-6, 1] (one hedge per million calls at least), with BudgetBurst
	// hedges allowed at once. Zero means 0.1 and 10. Ignored when Budget is set.
	BudgetRatio float64
	BudgetBurst int
	// Budget, when set, is asked before each hedge instead of the ratio: a
	// *retry.Budget shares the retries' tokens, as gRPC's retry throttling
	// covers hedges. When it also has RecordSuccess and RecordFailure
	// methods (a *retry.Budget has), the policy records in it each attempt
	// that failed with an error that may be retried, and each call that
	// succeeded, so that a failing dependency empties it even with no
	// retry policy on the path.
	Budget interface{ AllowRetry() bool }
	// Gate, when set, is asked before each hedge: a non-nil rejection (a
	// breaker open) stops hedging. In a stack, the hedge asks the Gaters
	// directly inside it instead (breakwater.Gater).
	Gate func() (wait time.Duration, rejection error)
	// Retryable decides whether a failed attempt's error allows another
	// attempt. Nil means any error other than one marked permanent
	// (outcome.Permanent), a policy's rejection, or the call's own context
	// ending.
	Retryable func(err error) bool
	// Clock times the delays. Nil means clock.System.
	Clock clock.Clock
	// Hooks are called when hedges start and win.
	Hooks Hooks
}

// Hooks are functions a hedging policy calls; each may be nil. They run on
// the caller's goroutine, with the call's context.
type Hooks struct {
	// OnHedge is called when a hedge starts.
	OnHedge func(ctx context.Context, e HedgeEvent)
	// OnWin is called when a hedge's answer wins over the first attempt's.
	OnWin func(ctx context.Context, e HedgeEvent)
}

// HedgeEvent describes a hedge.
type HedgeEvent struct {
	Name  string
	Hedge int           // from 1
	After time.Duration // since the call started
}

func invalid(field, format string, args ...any) error {
	return &config.Error{Package: "hedge", Field: field, Reason: fmt.Sprintf(format, args...)}
}

func (c Config) checked() (Config, error) {
	switch {
	case c.MaxHedges < 0 || c.MaxHedges > 10:
		return c, invalid("MaxHedges", "must be in [0, 10], got %d", c.MaxHedges)
	case c.Delay < 0:
		return c, invalid("Delay", "must not be negative, got %v", c.Delay)
	case c.Delay == 0 && c.DelayFunc == nil:
		return c, invalid("Delay", "is required (or DelayFunc)")
	case c.Quantile != 0 && !(c.Quantile > 0 && c.Quantile < 1):
		return c, invalid("Quantile", "must be in (0, 1), got %v", c.Quantile)
	case c.Samples < 0 || c.Samples > 100_000:
		return c, invalid("Samples", "must be in [0, 100000], got %d", c.Samples)
	case c.MinSamples < 0 || c.MinSamples > 100_000:
		return c, invalid("MinSamples", "must be in [0, 100000], got %d", c.MinSamples)
	case c.BudgetRatio != 0 && !(c.BudgetRatio >= minBudgetRatio && c.BudgetRatio <= 1):
		return c, invalid("BudgetRatio", "must be in [%v, 1], got %v", minBudgetRatio, c.BudgetRatio)
	case c.BudgetBurst < 0 || c.BudgetBurst > 1000:
		return c, invalid("BudgetBurst", "must be in [0, 1000], got %d", c.BudgetBurst)
	}
	if c.MaxHedges == 0 {
		c.MaxHedges = defaultMaxHedges
	}
	if c.Samples == 0 {
		c.Samples = defaultSamples
	}
	if c.MinSamples == 0 {
		c.MinSamples = min(defaultMinSamples, c.Samples)
	}
	if c.MinSamples > c.Samples {
		return c, invalid("MinSamples", "must not exceed Samples (%d), got %d", c.Samples, c.MinSamples)
	}
	if c.BudgetRatio == 0 {
		c.BudgetRatio = defaultBudgetRatio
	}
	if c.BudgetBurst == 0 {
		c.BudgetBurst = defaultBudgetBurst
	}
	c.Clock = clock.Or(c.Clock)
	return c, nil
}

// Policy is a hedging policy. It is safe for concurrent use.
type Policy struct {
	cfg    Config
	origin time.Time

	tokens atomic.Int64 // the ratio budget, in budgetUnits

	mu      sync.Mutex // guards the latency record
	samples []time.Duration
	next    int          // where the next sample goes
	fresh   int          // samples since the quantile was computed
	delay   atomic.Int64 // the quantile's delay; 0 until MinSamples are known
	metrics counters
}

type counters struct {
	calls, hedges, won, cancelled, denied, rejected, dropPanics atomic.Uint64
}

// New returns a hedging policy described by cfg, or a *config.Error.
func New(cfg Config) (*Policy, error) {
	cfg, err := cfg.checked()
	if err != nil {
		return nil, err
	}
	p := &Policy{cfg: cfg, origin: cfg.Clock.Now()}
	p.tokens.Store(int64(cfg.BudgetBurst) * budgetUnit)
	if cfg.Quantile > 0 {
		p.samples = make([]time.Duration, 0, cfg.Samples)
	}
	return p, nil
}

// Name returns the policy's name.
func (p *Policy) Name() string { return p.cfg.Name }

// delayFor returns the delay before hedge n.
func (p *Policy) delayFor(n int) time.Duration {
	if f := p.cfg.DelayFunc; f != nil {
		return max(f(n), 0)
	}
	if d := p.delay.Load(); d > 0 {
		return time.Duration(d)
	}
	return p.cfg.Delay
}

// record adds a successful call's latency to the record.
func (p *Policy) record(d time.Duration) {
	if p.cfg.Quantile == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.samples) < cap(p.samples) {
		p.samples = append(p.samples, d)
	} else {
		p.samples[p.next] = d
	}
	p.next = (p.next + 1) % cap(p.samples)
	p.fresh++
	// Recomputed every tenth of the record: sorting on every call would
	// cost more than it tells.
	if p.delay.Load() == 0 || p.fresh >= max(cap(p.samples)/10, 1) {
		p.requantileLocked()
	}
}

// requantileLocked computes the delay from the record, once it holds
// MinSamples.
func (p *Policy) requantileLocked() {
	if len(p.samples) < p.cfg.MinSamples {
		return
	}
	p.fresh = 0
	s := slices.Clone(p.samples)
	slices.Sort(s)
	i := min(len(s)-1, int(math.Ceil(p.cfg.Quantile*float64(len(s))))-1)
	p.delay.Store(int64(max(s[max(i, 0)], 1)))
}

// Inherit makes p carry on what prev has learned, as when a configuration
// changes and a new policy takes over: the latencies prev recorded (the
// latest, as many as p keeps), from which p's quantile is computed at
// once, and the tokens of prev's hedge budget (at most p's burst). Call
// it before p takes calls.
func (p *Policy) Inherit(prev *Policy) {
	prev.mu.Lock()
	recent := slices.Clone(prev.samples) // oldest first
	if len(prev.samples) == cap(prev.samples) {
		recent = slices.Concat(prev.samples[prev.next:], prev.samples[:prev.next])
	}
	prev.mu.Unlock()
	p.tokens.Store(min(prev.tokens.Load(), int64(p.cfg.BudgetBurst)*budgetUnit))
	if p.cfg.Quantile == 0 || len(recent) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	recent = recent[max(0, len(recent)-cap(p.samples)):]
	p.samples = append(p.samples[:0], recent...)
	p.next = len(p.samples) % cap(p.samples)
	p.requantileLocked()
}

// allow reports whether a hedge may start now, taking its budget.
func (p *Policy) allow(gate func() (time.Duration, error)) bool {
	if g := gate; g != nil {
		if _, rejection := g(); rejection != nil {
			return false
		}
	}
	if b := p.cfg.Budget; b != nil {
		if !b.AllowRetry() {
			p.metrics.denied.Add(1)
			return false
		}
		return true
	}
	for {
		t := p.tokens.Load()
		if t < budgetUnit {
			p.metrics.denied.Add(1)
			return false
		}
		if p.tokens.CompareAndSwap(t, t-budgetUnit) {
			return true
		}
	}
}

// recorder is a Budget that learns from outcomes.
type recorder interface {
	RecordSuccess()
	RecordFailure()
}

// recordFailure tells a recording Budget of an attempt that failed.
func (p *Policy) recordFailure() {
	if r, ok := p.cfg.Budget.(recorder); ok {
		r.RecordFailure()
	}
}

// recordSuccess tells a recording Budget of a call that succeeded.
func (p *Policy) recordSuccess() {
	if r, ok := p.cfg.Budget.(recorder); ok {
		r.RecordSuccess()
	}
}

// deposit adds a call's share of the budget.
func (p *Policy) deposit() {
	if p.cfg.Budget != nil {
		return
	}
	p.credit(int64(math.Round(p.cfg.BudgetRatio * budgetUnit)))
}

// credit adds add to the ratio budget, up to its burst.
func (p *Policy) credit(add int64) {
	limit := int64(p.cfg.BudgetBurst) * budgetUnit
	for {
		t := p.tokens.Load()
		if t >= limit || p.tokens.CompareAndSwap(t, min(t+add, limit)) {
			return
		}
	}
}

// refund gives back the budget of a hedge that was turned away.
func (p *Policy) refund() {
	if p.cfg.Budget != nil {
		return
	}
	p.credit(budgetUnit)
}

// retryable applies Config.Retryable, or the default rule.
func (p *Policy) retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if f := p.cfg.Retryable; f != nil {
		return f(err)
	}
	if retry, marked := outcome.Retry(err); marked && !retry {
		return false
	}
	return !outcome.Rejected(err)
}

// Metrics is a snapshot of a hedging policy. Its counters only grow.
type Metrics struct {
	Name string
	// Calls counts the calls; Hedges the hedges started; Won the hedges
	// whose answer won; Cancelled the attempts cancelled because another
	// won; BudgetDenied the hedges the budget turned down.
	Calls, Hedges, Won, Cancelled, BudgetDenied uint64
	// Rejected counts the hedges (counted in Hedges too) that a policy
	// inside the hedge turned away before they reached the dependency (a
	// full bulkhead, an empty rate limiter): they end nothing, and their
	// budget is given back.
	Rejected uint64
	// DropPanics counts the panics of Options.Drop on attempts that lost
	// after the call returned, recovered as no caller could take them.
	DropPanics uint64
	// Delay is the delay a hedge starts after now: Delay, or the
	// quantile's once known.
	Delay time.Duration
}

// Metrics returns a snapshot of the policy.
func (p *Policy) Metrics() Metrics {
	m := &p.metrics
	return Metrics{Name: p.cfg.Name, Calls: m.calls.Load(), Hedges: m.hedges.Load(), Won: m.won.Load(),
		Cancelled: m.cancelled.Load(), BudgetDenied: m.denied.Load(), Rejected: m.rejected.Load(), DropPanics: m.dropPanics.Load(), Delay: p.delayFor(1)}
}
