// Package bwprom exposes Breakwater's breakers, retry, hedging and
// load-shedding policies to Prometheus.
//
// A Collector reads the policies' counters when Prometheus scrapes, so the
// calls themselves pay nothing for it. Only the call-duration histogram
// needs a hook on the calls (Collector.BreakerHooks), which makes the
// breaker time each call: two clock reads and an observation.
//
// Metrics, each with a name label:
//
//	breakwater_circuit_state{state}               1 for the current state, 0 for the others (breakers sharing a name: how many are in each)
//	breakwater_circuit_calls_total{outcome}        calls by outcome: success, failure, ignored, rejected
//	breakwater_circuit_slow_calls_total            calls slower than SlowCallDuration
//	breakwater_circuit_trips_total                 transitions into open
//	breakwater_circuit_state_changes_total         transitions of any kind
//	breakwater_circuit_failure_rate                failure rate over the sliding window (0 without one)
//	breakwater_circuit_call_duration_seconds{outcome}  histogram, with BreakerHooks
//	breakwater_retry_calls_total                   calls run through the policy
//	breakwater_retry_retries_total                 retries made
//	breakwater_retry_successes_after_retry_total   calls that succeeded on a retry
//	breakwater_retry_exhausted_total               calls given up on by a limit
//	breakwater_retry_budget_denied_total           retries the budget turned down
//	breakwater_retry_budget_tokens                 tokens left in the retry budget
//	breakwater_hedge_calls_total                   calls run through the hedging policy
//	breakwater_hedge_hedges_total                  hedges started
//	breakwater_hedge_won_total                     hedges whose answer won
//	breakwater_hedge_cancelled_total               attempts cancelled because another won
//	breakwater_hedge_budget_denied_total           hedges the budget turned down
//	breakwater_hedge_rejected_total                hedges a policy inside the hedge turned away
//	breakwater_hedge_delay_seconds                 the delay before a call's first hedge now
//
// and for load shedding, with kind (bulkhead, ratelimit, throttle,
// adaptive) and name labels:
//
//	breakwater_limiter_calls_total{outcome}        calls admitted or rejected
//	breakwater_limiter_in_flight                   calls running now (bulkhead, adaptive)
//	breakwater_limiter_queued                      calls waiting now (bulkhead)
//	breakwater_limiter_limit                       the concurrency limit (bulkhead, adaptive: the current one)
//	breakwater_limiter_tokens                      tokens in the bucket (ratelimit)
//	breakwater_limiter_refusal_probability         probability of refusing a call now (throttle)
//	breakwater_limiter_mode{mode}                  1 for the mode in force, 0 for the others: shared, local, closed (a rate limit shared through Redis)
//
// and for admission control (package admission), with a name label:
//
//	breakwater_admission_admitted_total{priority}       requests admitted
//	breakwater_admission_shed_total{priority,reason}    requests shed
//	breakwater_admission_canceled_total                 requests whose client went away while queued
//	breakwater_admission_limit                          the concurrency limit now
//	breakwater_admission_in_flight                      requests running now
//	breakwater_admission_queued                         requests waiting now
//	breakwater_admission_queue_delay_seconds            how long the last request served from the queue waited
//	breakwater_admission_standing                       1 while the queue stands (the server is overloaded)
//
// It is a module of its own, so that the Breakwater core stays free of
// third-party dependencies.
package bwprom

import (
	"context"
	"sync"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/watch"
	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "breakwater"

var (
	descState        = desc("circuit", "state", "Whether the circuit is in the state (1) or not (0).", "state")
	descCalls        = desc("circuit", "calls_total", "Calls by outcome: success, failure, ignored, or rejected by the circuit.", "outcome")
	descSlow         = desc("circuit", "slow_calls_total", "Calls that took at least the slow-call duration.")
	descTrips        = desc("circuit", "trips_total", "Transitions into the open state.")
	descChanges      = desc("circuit", "state_changes_total", "State transitions of any kind.")
	descFailureRate  = desc("circuit", "failure_rate", "Failure rate over the sliding window; 0 without a window.")
	descRetryCalls   = desc("retry", "calls_total", "Calls run through the retry policy.")
	descRetries      = desc("retry", "retries_total", "Retries made: attempts after the first.")
	descRecovered    = desc("retry", "successes_after_retry_total", "Calls that succeeded on a retry.")
	descExhausted    = desc("retry", "exhausted_total", "Calls given up on because a limit was reached: attempts, time, budget or context.")
	descDenied       = desc("retry", "budget_denied_total", "Retries the retry budget turned down.")
	descBudgetTokens = desc("retry", "budget_tokens", "Tokens left in the retry budget.")
	descHedgeCalls   = desc("hedge", "calls_total", "Calls run through the hedging policy.")
	descHedges       = desc("hedge", "hedges_total", "Hedges started: attempts after the first.")
	descHedgesWon    = desc("hedge", "won_total", "Hedges whose answer won over the earlier attempts'.")
	descCancelled    = desc("hedge", "cancelled_total", "Attempts cancelled because another attempt's answer won.")
	descHedgeDenied  = desc("hedge", "budget_denied_total", "Hedges the hedging budget turned down.")
	descHedgeRefused = desc("hedge", "rejected_total", "Hedges a policy inside the hedge turned away: they ended nothing.")
	descHedgeDelay   = desc("hedge", "delay_seconds", "How long a call waits now before its first hedge.")

	descLimiterCalls    = limiterDesc("calls_total", "Calls the policy admitted or rejected.", "outcome")
	descLimiterInFlight = limiterDesc("in_flight", "Calls running now.")
	descLimiterQueued   = limiterDesc("queued", "Calls waiting for a slot now.")
	descLimiterLimit    = limiterDesc("limit", "The concurrency limit: a bulkhead's, or an adaptive limit's current one.")
	descLimiterTokens   = limiterDesc("tokens", "Tokens in the rate limiter's bucket.")
	descLimiterRefusal  = limiterDesc("refusal_probability", "The throttle's probability of refusing a call now.")
	descLimiterMode     = limiterDesc("mode", "1 for how a policy shared with other processes decides now (shared, local, closed), 0 for the other modes.", "mode")

	descAdmitted   = desc("admission", "admitted_total", "Requests admitted.", "priority")
	descShed       = desc("admission", "shed_total", "Requests shed.", "priority", "reason")
	descCanceled   = desc("admission", "canceled_total", "Requests whose client went away while they were queued.")
	descAdmLimit   = desc("admission", "limit", "The concurrency limit now.")
	descAdmRunning = desc("admission", "in_flight", "Requests running now.")
	descAdmQueued  = desc("admission", "queued", "Requests waiting for a slot now.")
	descAdmDelay   = desc("admission", "queue_delay_seconds", "How long the last request served from the queue waited.")
	descStanding   = desc("admission", "standing", "1 while the queue stands: it has not emptied for an interval.")

	allDescs = []*prometheus.Desc{descAdmitted, descShed, descCanceled, descAdmLimit, descAdmRunning, descAdmQueued, descAdmDelay, descStanding,
		descState, descCalls, descSlow, descTrips, descChanges, descFailureRate,
		descRetryCalls, descRetries, descRecovered, descExhausted, descDenied, descBudgetTokens,
		descHedgeCalls, descHedges, descHedgesWon, descCancelled, descHedgeDenied, descHedgeRefused, descHedgeDelay,
		descLimiterCalls, descLimiterInFlight, descLimiterQueued, descLimiterLimit, descLimiterTokens, descLimiterRefusal, descLimiterMode}
)

func limiterDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "limiter", name), help, append([]string{"kind", "name"}, labels...), nil)
}

func desc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, append([]string{"name"}, labels...), nil)
}

// durationBuckets are the call-duration histogram's bucket bounds, in
// seconds: from 100 µs to a minute, 2.5 steps a decade, so that a call
// served from memory, one across a data centre and one that times out land
// in different buckets (Prometheus's default buckets start at 5 ms).
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Collector is a prometheus.Collector over breakers and retry policies.
// Register it once (prometheus.MustRegister(c)); it is safe for concurrent
// use, and what it watches can be added at any time.
//
// A scrape never fails because of a breaker: breakers that share a name
// are reported as one (their counters summed, the state gauge counting
// them per state, the highest failure rate), and names are made valid
// UTF-8. The series of a breaker go when it leaves what is watched (a
// registry's Remove or eviction): the number of series is bounded by the
// registries' MaxKeys.
type Collector struct {
	watched   *watch.List
	duration  *prometheus.HistogramVec
	observers sync.Map // breaker name → *[3]prometheus.Observer, by outcome
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector of what l holds, now and later: add the
// policies to expose to l (watch.List.Add). l must
// not be nil.
func NewCollector(l *watch.List) *Collector {
	if l == nil {
		panic("bwprom: NewCollector of a nil watch.List")
	}
	return &Collector{watched: l, duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "circuit", Name: "call_duration_seconds",
		Help:    "Duration of the calls a breaker let through, by outcome; recorded by the collector's breaker hooks.",
		Buckets: durationBuckets,
	}, []string{"name", "outcome"})}
}

// BreakerHooks returns hooks that record call durations in the histogram.
// Attach them to a breaker's Config (with breaker.JoinHooks to keep
// others) and watch the breaker too: a breaker's histogram series are
// deleted when it is no longer watched. Breakers without the hooks are
// still counted, just not timed.
func (c *Collector) BreakerHooks() breaker.Hooks {
	observe := func(outcome int) func(context.Context, breaker.CallEvent) {
		return func(_ context.Context, e breaker.CallEvent) {
			c.observersFor(e.Name)[outcome].Observe(e.Duration.Seconds())
		}
	}
	return breaker.Hooks{OnSuccess: observe(0), OnFailure: observe(1), OnIgnore: observe(2)}
}

// observersFor returns the histogram's series of breaker name, looked up
// once: resolving labels on every call would cost more than the call.
func (c *Collector) observersFor(name string) *[3]prometheus.Observer {
	if o, ok := c.observers.Load(name); ok {
		return o.(*[3]prometheus.Observer)
	}
	label := watch.ValidName(name) // WithLabelValues panics on invalid UTF-8
	o := &[3]prometheus.Observer{
		c.duration.WithLabelValues(label, "success"),
		c.duration.WithLabelValues(label, "failure"),
		c.duration.WithLabelValues(label, "ignored"),
	}
	actual, _ := c.observers.LoadOrStore(name, o)
	return actual.(*[3]prometheus.Observer)
}

// Describe sends the descriptions of every metric the collector exposes.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	c.duration.Describe(ch)
}

// Collect sends the current value of every metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	report := c.watched.Report()
	live := make(map[string]bool, len(report.Circuits))
	for _, m := range report.Circuits {
		live[m.Name] = true
		collectCircuit(ch, m)
	}
	for _, m := range report.Retries {
		counter(ch, descRetryCalls, m.Calls, m.Name)
		counter(ch, descRetries, m.Retries, m.Name)
		counter(ch, descRecovered, m.SucceededAfterRetry, m.Name)
		counter(ch, descExhausted, m.Exhausted, m.Name)
		counter(ch, descDenied, m.BudgetDenied, m.Name)
		gauge(ch, descBudgetTokens, m.BudgetTokens, m.Name)
	}
	for _, m := range report.Hedges {
		counter(ch, descHedgeCalls, m.Calls, m.Name)
		counter(ch, descHedges, m.Hedges, m.Name)
		counter(ch, descHedgesWon, m.Won, m.Name)
		counter(ch, descCancelled, m.Cancelled, m.Name)
		counter(ch, descHedgeDenied, m.BudgetDenied, m.Name)
		counter(ch, descHedgeRefused, m.Rejected, m.Name)
		gauge(ch, descHedgeDelay, m.Delay.Seconds(), m.Name)
	}
	for _, m := range report.Limiters {
		collectLimiter(ch, m)
	}
	for _, m := range report.Admissions {
		collectAdmission(ch, m)
	}
	c.forgetGone(live)
	c.duration.Collect(ch)
}

func collectLimiter(ch chan<- prometheus.Metric, m watch.Limiter) {
	counter(ch, descLimiterCalls, m.Admitted, m.Kind, m.Name, "admitted")
	counter(ch, descLimiterCalls, m.Rejected, m.Kind, m.Name, "rejected")
	switch m.Kind {
	case watch.KindBulkhead, watch.KindAdaptive:
		gauge(ch, descLimiterInFlight, float64(m.InFlight), m.Kind, m.Name)
		gauge(ch, descLimiterLimit, float64(m.Limit), m.Kind, m.Name)
		if m.Kind == watch.KindBulkhead {
			gauge(ch, descLimiterQueued, float64(m.Queued), m.Kind, m.Name)
		}
	case watch.KindRateLimit:
		gauge(ch, descLimiterTokens, m.Tokens, m.Kind, m.Name)
	case watch.KindThrottle:
		gauge(ch, descLimiterRefusal, m.Probability, m.Kind, m.Name)
	}
	if m.Mode != "" {
		for _, mode := range []string{watch.ModeShared, watch.ModeLocal, watch.ModeClosed} {
			v := 0.0
			if m.Mode == mode {
				v = 1
			}
			gauge(ch, descLimiterMode, v, m.Kind, m.Name, mode)
		}
	}
}

func collectAdmission(ch chan<- prometheus.Metric, m watch.Admission) {
	for p, n := range m.Admitted {
		counter(ch, descAdmitted, n, m.Name, p.String())
	}
	for p, byReason := range m.Shed {
		for r, n := range byReason {
			counter(ch, descShed, n, m.Name, p.String(), string(r))
		}
	}
	counter(ch, descCanceled, m.Canceled, m.Name)
	gauge(ch, descAdmLimit, float64(m.Limit), m.Name)
	gauge(ch, descAdmRunning, float64(m.InFlight), m.Name)
	gauge(ch, descAdmQueued, float64(m.Queued), m.Name)
	gauge(ch, descAdmDelay, m.QueueDelay.Seconds(), m.Name)
	standing := 0.0
	if m.Standing {
		standing = 1
	}
	gauge(ch, descStanding, standing, m.Name)
}

// forgetGone deletes the histogram series of breakers that are no longer
// watched, removed or evicted since the hooks made them.
func (c *Collector) forgetGone(live map[string]bool) {
	c.observers.Range(func(key, _ any) bool { // keyed by the raw name
		if name := watch.ValidName(key.(string)); !live[name] {
			c.observers.Delete(key)
			for _, outcome := range []string{"success", "failure", "ignored"} {
				c.duration.DeleteLabelValues(name, outcome)
			}
		}
		return true
	})
}

func collectCircuit(ch chan<- prometheus.Metric, m watch.Circuit) {
	for _, s := range watch.States() {
		gauge(ch, descState, float64(m.InState[s]), m.Name, s.String())
	}
	counter(ch, descCalls, m.Successes, m.Name, "success")
	counter(ch, descCalls, m.Failures, m.Name, "failure")
	counter(ch, descCalls, m.Ignored, m.Name, "ignored")
	counter(ch, descCalls, m.Rejections, m.Name, "rejected")
	counter(ch, descSlow, m.SlowCalls, m.Name)
	counter(ch, descTrips, m.Trips, m.Name)
	counter(ch, descChanges, m.StateChanges, m.Name)
	gauge(ch, descFailureRate, m.FailureRate, m.Name)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	send(ch, d, prometheus.CounterValue, float64(v), labels)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	send(ch, d, prometheus.GaugeValue, v, labels)
}

// send reports one value. Labels are valid by construction (watch.Report
// cleans names); should one not be, the value is left out rather than
// failing the scrape or panicking in it.
func send(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels []string) {
	if m, err := prometheus.NewConstMetric(d, t, v, labels...); err == nil {
		ch <- m
	}
}
