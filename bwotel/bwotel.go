// Package bwotel exposes Breakwater's breakers, retry, hedging and
// load-shedding policies as OpenTelemetry metrics, through a MeterProvider
// of the caller's choosing.
//
// The content matches package bwprom. Counters and gauges are observable
// instruments read at collection time, so calls pay nothing for them; only
// the call-duration histogram needs hooks on the calls (BreakerHooks).
//
//	breakwater.circuit.state{name,state}           1 for the current state (only it is reported)
//	breakwater.circuit.calls{name,outcome}          success, failure, ignored, rejected (those seen)
//	breakwater.circuit.slow_calls{name}
//	breakwater.circuit.trips{name}
//	breakwater.circuit.state_changes{name}
//	breakwater.circuit.failure_rate{name}
//	breakwater.circuit.call.duration{name,outcome}  histogram in seconds, with BreakerHooks
//	breakwater.retry.calls{name}
//	breakwater.retry.retries{name}
//	breakwater.retry.successes_after_retry{name}
//	breakwater.retry.exhausted{name}
//	breakwater.retry.budget_denied{name}
//	breakwater.retry.budget_tokens{name}
//	breakwater.hedge.calls{name}
//	breakwater.hedge.hedges{name}
//	breakwater.hedge.won{name}
//	breakwater.hedge.cancelled{name}
//	breakwater.hedge.budget_denied{name}
//	breakwater.hedge.rejected{name}                  hedges a policy inside turned away
//	breakwater.hedge.delay{name}                    seconds before a call's first hedge now
//	breakwater.limiter.calls{kind,name,outcome}      admitted, rejected
//	breakwater.limiter.in_flight{kind,name}          bulkhead, adaptive
//	breakwater.limiter.queued{kind,name}             bulkhead
//	breakwater.limiter.limit{kind,name}              bulkhead, adaptive (the current limit)
//	breakwater.limiter.tokens{kind,name}             ratelimit
//	breakwater.limiter.refusal_probability{kind,name}  throttle
//	breakwater.limiter.mode{kind,name,mode}          1 for the mode in force, 0 for the others (a rate limit shared through Redis)
//	breakwater.admission.admitted{name,priority}     requests admitted
//	breakwater.admission.shed{name,priority,reason}  requests shed
//	breakwater.admission.canceled{name}              requests whose client went away while queued
//	breakwater.admission.limit{name}                 the concurrency limit now
//	breakwater.admission.in_flight{name}             requests running now
//	breakwater.admission.queued{name}                requests waiting now
//	breakwater.admission.queue_delay{name}           seconds the last request served from the queue waited
//	breakwater.admission.standing{name}              1 while the queue stands (overloaded)
//
// # Cardinality
//
// The SDK bounds each instrument to 2,000 series by default, and sends
// those past it into one overflow series. A breaker has one state series
// (its current state's) and one calls series per outcome it has seen:
// about one or two per breaker, so a default registry of breakers (1,000
// breakers) fits. With more breakers, or many failing at once, raise the
// limit: sdkmetric.NewMeterProvider(sdkmetric.WithCardinalityLimit(n)),
// n above 4 × the breakers (and 3 × for the duration histogram).
//
// Observable instruments report only the series observed at a collection,
// so a breaker a registry evicted leaves them. The duration histogram is
// synchronous: with cumulative temporality (the SDK's default) the SDK
// keeps the series of every breaker it has seen for the life of the
// MeterProvider, evicted or not. Where breakers churn (a registry keyed by
// host), choose delta temporality for it in the reader
// (sdkmetric.WithTemporalitySelector), or leave BreakerHooks out.
//
// It is a module of its own, so that the Breakwater core stays free of
// third-party dependencies.
package bwotel

import (
	"context"
	"errors"
	"sync"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/watch"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// durationBuckets are the call-duration histogram's bucket boundaries, in
// seconds, as OTel's semantic conventions record durations: from 100 µs to
// a minute, 2.5 steps a decade. The SDK's default boundaries (0, 5, 10, …
// 10,000) are made for milliseconds: every call under 5 s would share one
// bucket. A View can replace them.
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// ScopeName is the instrumentation scope of the meter bwotel uses.
const ScopeName = "github.com/breakwater-go/breakwater/bwotel"

// Observer reports breakers and retry policies to OpenTelemetry. It is
// safe for concurrent use; what it watches can be added at any time.
// Breakers that share a name are reported as one (counters summed, the
// state gauge counting them per state, the highest failure rate), and
// names are made valid UTF-8.
type Observer struct {
	watched      *watch.List
	duration     metric.Float64Histogram
	registration metric.Registration
	attrs        sync.Map // breaker name → *[3]metric.RecordOption, by outcome
}

// New returns an Observer of what l holds, now and later (add the policies
// to report to l: watch.List.Add), whose
// instruments come from a meter of mp. Call Close to unregister them.
func New(mp metric.MeterProvider, l *watch.List) (*Observer, error) {
	switch {
	case mp == nil:
		return nil, errors.New("bwotel: the MeterProvider is nil")
	case l == nil:
		return nil, errors.New("bwotel: the watch.List is nil")
	}
	m := mp.Meter(ScopeName)
	o := &Observer{watched: l}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		check(err)
		return c
	}
	state, err := m.Int64ObservableGauge("breakwater.circuit.state", metric.WithUnit("1"),
		metric.WithDescription("Whether the circuit is in the state (1) or not (0)."))
	check(err)
	failureRate, err := m.Float64ObservableGauge("breakwater.circuit.failure_rate", metric.WithUnit("1"),
		metric.WithDescription("Failure rate over the sliding window; 0 without a window."))
	check(err)
	budgetTokens, err := m.Float64ObservableGauge("breakwater.retry.budget_tokens", metric.WithUnit("{token}"),
		metric.WithDescription("Tokens left in the retry budget."))
	check(err)
	calls := counter("breakwater.circuit.calls", "{call}", "Calls by outcome: success, failure, ignored, or rejected by the circuit.")
	slow := counter("breakwater.circuit.slow_calls", "{call}", "Calls that took at least the slow-call duration.")
	trips := counter("breakwater.circuit.trips", "{trip}", "Transitions into the open state.")
	changes := counter("breakwater.circuit.state_changes", "{change}", "State transitions of any kind.")
	retryCalls := counter("breakwater.retry.calls", "{call}", "Calls run through the retry policy.")
	retries := counter("breakwater.retry.retries", "{retry}", "Retries made: attempts after the first.")
	recovered := counter("breakwater.retry.successes_after_retry", "{call}", "Calls that succeeded on a retry.")
	exhausted := counter("breakwater.retry.exhausted", "{call}", "Calls given up on because a limit was reached.")
	denied := counter("breakwater.retry.budget_denied", "{retry}", "Retries the retry budget turned down.")
	hedgeCalls := counter("breakwater.hedge.calls", "{call}", "Calls run through the hedging policy.")
	hedges := counter("breakwater.hedge.hedges", "{hedge}", "Hedges started: attempts after the first.")
	hedgesWon := counter("breakwater.hedge.won", "{hedge}", "Hedges whose answer won over the earlier attempts'.")
	cancelled := counter("breakwater.hedge.cancelled", "{attempt}", "Attempts cancelled because another attempt's answer won.")
	hedgeDenied := counter("breakwater.hedge.budget_denied", "{hedge}", "Hedges the hedging budget turned down.")
	hedgeRefused := counter("breakwater.hedge.rejected", "{hedge}", "Hedges a policy inside the hedge turned away: they ended nothing.")
	limiterCalls := counter("breakwater.limiter.calls", "{call}", "Calls the policy admitted or rejected.")
	admitted := counter("breakwater.admission.admitted", "{request}", "Requests admitted.")
	shed := counter("breakwater.admission.shed", "{request}", "Requests shed.")
	canceled := counter("breakwater.admission.canceled", "{request}", "Requests whose client went away while they were queued.")
	gauge := func(name, unit, desc string) metric.Float64ObservableGauge {
		g, err := m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		check(err)
		return g
	}
	hedgeDelay := gauge("breakwater.hedge.delay", "s", "How long a call waits now before its first hedge.")
	inFlight := gauge("breakwater.limiter.in_flight", "{call}", "Calls running now.")
	queued := gauge("breakwater.limiter.queued", "{call}", "Calls waiting for a slot now.")
	limit := gauge("breakwater.limiter.limit", "{call}", "The concurrency limit: a bulkhead's, or an adaptive limit's current one.")
	tokens := gauge("breakwater.limiter.tokens", "{token}", "Tokens in the rate limiter's bucket.")
	refusal := gauge("breakwater.limiter.refusal_probability", "1", "The throttle's probability of refusing a call now.")
	admLimit := gauge("breakwater.admission.limit", "{request}", "The concurrency limit now.")
	admRunning := gauge("breakwater.admission.in_flight", "{request}", "Requests running now.")
	admQueued := gauge("breakwater.admission.queued", "{request}", "Requests waiting for a slot now.")
	admDelay := gauge("breakwater.admission.queue_delay", "s", "How long the last request served from the queue waited.")
	standing := gauge("breakwater.admission.standing", "1", "1 while the queue stands: it has not emptied for an interval.")
	mode := gauge("breakwater.limiter.mode", "1", "1 for how a policy shared with other processes decides now (shared, local, closed), 0 for the other modes.")
	o.duration, err = m.Float64Histogram("breakwater.circuit.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the calls a breaker let through, by outcome."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	check(err)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	o.registration, err = m.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		report := o.watched.Report()
		circuits, policies := report.Circuits, report.Retries
		live := make(map[string]bool, len(circuits))
		for _, c := range circuits {
			live[c.Name] = true
			name := attribute.String("name", c.Name)
			// A series per state the name's breakers are in, and per
			// outcome seen: one or two per breaker, so that the SDK's
			// default cardinality limit (2,000 per instrument) holds a
			// default registry's 1,000 breakers.
			for _, s := range watch.States() {
				if n := c.InState[s]; n > 0 {
					ob.ObserveInt64(state, int64(n), metric.WithAttributes(name, attribute.String("state", s.String())))
				}
			}
			for _, o := range [...]struct {
				outcome string
				v       uint64
			}{{"success", c.Successes}, {"failure", c.Failures}, {"ignored", c.Ignored}, {"rejected", c.Rejections}} {
				if o.v > 0 {
					ob.ObserveInt64(calls, int64(o.v), metric.WithAttributes(name, attribute.String("outcome", o.outcome)))
				}
			}
			ob.ObserveInt64(slow, int64(c.SlowCalls), metric.WithAttributes(name))
			ob.ObserveInt64(trips, int64(c.Trips), metric.WithAttributes(name))
			ob.ObserveInt64(changes, int64(c.StateChanges), metric.WithAttributes(name))
			ob.ObserveFloat64(failureRate, c.FailureRate, metric.WithAttributes(name))
		}
		for _, pm := range policies {
			name := metric.WithAttributes(attribute.String("name", pm.Name))
			ob.ObserveInt64(retryCalls, int64(pm.Calls), name)
			ob.ObserveInt64(retries, int64(pm.Retries), name)
			ob.ObserveInt64(recovered, int64(pm.SucceededAfterRetry), name)
			ob.ObserveInt64(exhausted, int64(pm.Exhausted), name)
			ob.ObserveInt64(denied, int64(pm.BudgetDenied), name)
			ob.ObserveFloat64(budgetTokens, pm.BudgetTokens, name)
		}
		for _, h := range report.Hedges {
			name := metric.WithAttributes(attribute.String("name", h.Name))
			ob.ObserveInt64(hedgeCalls, int64(h.Calls), name)
			ob.ObserveInt64(hedges, int64(h.Hedges), name)
			ob.ObserveInt64(hedgesWon, int64(h.Won), name)
			ob.ObserveInt64(cancelled, int64(h.Cancelled), name)
			ob.ObserveInt64(hedgeDenied, int64(h.BudgetDenied), name)
			ob.ObserveInt64(hedgeRefused, int64(h.Rejected), name)
			ob.ObserveFloat64(hedgeDelay, h.Delay.Seconds(), name)
		}
		for _, l := range report.Limiters {
			kindName := []attribute.KeyValue{attribute.String("kind", l.Kind), attribute.String("name", l.Name)}
			at := metric.WithAttributes(kindName...)
			if l.Admitted > 0 {
				ob.ObserveInt64(limiterCalls, int64(l.Admitted), metric.WithAttributes(append(kindName, attribute.String("outcome", "admitted"))...))
			}
			if l.Rejected > 0 {
				ob.ObserveInt64(limiterCalls, int64(l.Rejected), metric.WithAttributes(append(kindName, attribute.String("outcome", "rejected"))...))
			}
			switch l.Kind {
			case watch.KindBulkhead, watch.KindAdaptive:
				ob.ObserveFloat64(inFlight, float64(l.InFlight), at)
				ob.ObserveFloat64(limit, float64(l.Limit), at)
				if l.Kind == watch.KindBulkhead {
					ob.ObserveFloat64(queued, float64(l.Queued), at)
				}
			case watch.KindRateLimit:
				ob.ObserveFloat64(tokens, l.Tokens, at)
			case watch.KindThrottle:
				ob.ObserveFloat64(refusal, l.Probability, at)
			}
			if l.Mode != "" {
				for _, m := range []string{watch.ModeShared, watch.ModeLocal, watch.ModeClosed} {
					v := 0.0
					if l.Mode == m {
						v = 1
					}
					ob.ObserveFloat64(mode, v, metric.WithAttributes(append(kindName, attribute.String("mode", m))...))
				}
			}
		}
		for _, a := range report.Admissions {
			name := attribute.String("name", a.Name)
			for p, n := range a.Admitted {
				ob.ObserveInt64(admitted, int64(n), metric.WithAttributes(name, attribute.String("priority", p.String())))
			}
			for p, byReason := range a.Shed {
				for r, n := range byReason {
					ob.ObserveInt64(shed, int64(n), metric.WithAttributes(name, attribute.String("priority", p.String()), attribute.String("reason", string(r))))
				}
			}
			at := metric.WithAttributes(name)
			ob.ObserveInt64(canceled, int64(a.Canceled), at)
			ob.ObserveFloat64(admLimit, float64(a.Limit), at)
			ob.ObserveFloat64(admRunning, float64(a.InFlight), at)
			ob.ObserveFloat64(admQueued, float64(a.Queued), at)
			ob.ObserveFloat64(admDelay, a.QueueDelay.Seconds(), at)
			st := 0.0
			if a.Standing {
				st = 1
			}
			ob.ObserveFloat64(standing, st, at)
		}
		o.attrs.Range(func(key, _ any) bool { // forget the attributes of breakers gone
			if !live[watch.ValidName(key.(string))] {
				o.attrs.Delete(key)
			}
			return true
		})
		return nil
	}, state, failureRate, budgetTokens, calls, slow, trips, changes, retryCalls, retries, recovered, exhausted, denied,
		hedgeCalls, hedges, hedgesWon, cancelled, hedgeDenied, hedgeRefused, hedgeDelay,
		limiterCalls, inFlight, queued, limit, tokens, refusal, mode,
		admitted, shed, canceled, admLimit, admRunning, admQueued, admDelay, standing)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// BreakerHooks returns hooks that record call durations in the histogram.
// Watch the breakers that carry them too. The observable instruments
// report only the breakers watched at each collection, so their series go
// with their breakers; the histogram's series are kept by the SDK, whose
// cardinality limit (sdk/metric.WithCardinalityLimit) bounds them.
func (o *Observer) BreakerHooks() breaker.Hooks {
	record := func(outcome int) func(context.Context, breaker.CallEvent) {
		return func(ctx context.Context, e breaker.CallEvent) {
			o.duration.Record(ctx, e.Duration.Seconds(), o.attrsFor(e.Name)[outcome]) // exemplars follow the caller's trace
		}
	}
	return breaker.Hooks{OnSuccess: record(0), OnFailure: record(1), OnIgnore: record(2)}
}

// attrsFor returns the histogram's attributes for breaker name, built once.
func (o *Observer) attrsFor(name string) *[3]metric.RecordOption {
	if a, ok := o.attrs.Load(name); ok {
		return a.(*[3]metric.RecordOption)
	}
	n := attribute.String("name", watch.ValidName(name))
	a := &[3]metric.RecordOption{
		metric.WithAttributeSet(attribute.NewSet(n, attribute.String("outcome", "success"))),
		metric.WithAttributeSet(attribute.NewSet(n, attribute.String("outcome", "failure"))),
		metric.WithAttributeSet(attribute.NewSet(n, attribute.String("outcome", "ignored"))),
	}
	actual, _ := o.attrs.LoadOrStore(name, a)
	return actual.(*[3]metric.RecordOption)
}

// Close unregisters the observer's callback.
func (o *Observer) Close() error { return o.registration.Unregister() }
