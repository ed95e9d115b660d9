package stackfile

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
	"github.com/breakwater-go/breakwater/timeout"
)

// policies reads the named policies: each an object with exactly one key,
// its kind.
func (d *decoder) policies(f *File, path string, v any) {
	m, ok := v.(map[string]any)
	if v != nil && !ok {
		d.fail(path, "must be an object of named policies, got %s", describe(v))
		return
	}
	for _, name := range sortedKeys(m) {
		p := join(path, name)
		kinds, ok := m[name].(map[string]any)
		if !ok || len(kinds) != 1 {
			d.fail(p, "must be an object with one key, the policy's kind (%s), got %s", kindList, describe(m[name]))
			return
		}
		var pol Policy
		d.applied = nil
		d.object(p, kinds, d.kinds(name, &pol))
		if d.err != nil {
			return
		}
		settings, _ := json.Marshal(kinds) // sorted keys: one text per content
		pol.settings, pol.overrides = string(settings), d.applied
		pol.spec = pol.kind + fmt.Sprintf("%+v", pol.value())
		if pol.Budget != nil {
			pol.spec += fmt.Sprintf("%+v", *pol.Budget)
		}
		f.Policies[name] = pol
	}
}

const kindList = "adaptive, breaker, bulkhead, hedge, rateLimit, retry, throttle, timeout"

// kinds are the fields of a policy's object: its kinds. Only the one
// present is read (with its overrides): the others are absent.
func (d *decoder) kinds(name string, p *Policy) fields {
	kind := func(k string, read func(path string, v any)) func(string, any) {
		return func(path string, v any) {
			if v != nil {
				p.kind = k
				read(path, v)
			}
		}
	}
	return fields{
		"retry": kind("retry", func(path string, v any) {
			p.Retry = &retry.Config{Name: name}
			p.Budget = d.retry(path, v, p.Retry)
		}),
		"breaker": kind("breaker", func(path string, v any) {
			p.Breaker = &breaker.Config{Name: name}
			d.breaker(path, v, p.Breaker)
		}),
		"timeout": kind("timeout", func(path string, v any) {
			p.Timeout = &timeout.Config{}
			d.object(path, v, fields{"timeout": func(path string, v any) { d.duration(path, v, &p.Timeout.Timeout) }})
		}),
		"bulkhead": kind("bulkhead", func(path string, v any) {
			c := &bulkhead.Config{Name: name}
			p.Bulkhead = c
			d.object(path, v, fields{
				"maxConcurrent": func(path string, v any) { d.integer(path, v, &c.MaxConcurrent) },
				"maxQueue":      func(path string, v any) { d.integer(path, v, &c.MaxQueue) },
				"maxWait":       func(path string, v any) { d.duration(path, v, &c.MaxWait) },
			})
		}),
		"rateLimit": kind("rateLimit", func(path string, v any) {
			c := &ratelimit.Config{Name: name}
			p.RateLimit = c
			d.object(path, v, fields{
				"rate":    func(path string, v any) { d.float(path, v, &c.Rate) },
				"burst":   func(path string, v any) { d.integer(path, v, &c.Burst) },
				"maxWait": func(path string, v any) { d.duration(path, v, &c.MaxWait) },
			})
		}),
		"throttle": kind("throttle", func(path string, v any) {
			c := &throttle.Config{Name: name}
			p.Throttle = c
			d.object(path, v, fields{
				"k":              func(path string, v any) { d.float(path, v, &c.K) },
				"maxProbability": func(path string, v any) { d.float(path, v, &c.MaxProbability) },
				"window":         func(path string, v any) { d.duration(path, v, &c.Window) },
				"buckets":        func(path string, v any) { d.integer(path, v, &c.Buckets) },
			})
		}),
		"adaptive": kind("adaptive", func(path string, v any) {
			c := &adaptive.Config{Name: name}
			p.Adaptive = c
			d.object(path, v, fields{
				"initialLimit": func(path string, v any) { d.integer(path, v, &c.InitialLimit) },
				"minLimit":     func(path string, v any) { d.integer(path, v, &c.MinLimit) },
				"maxLimit":     func(path string, v any) { d.integer(path, v, &c.MaxLimit) },
				"smoothing":    func(path string, v any) { d.float(path, v, &c.Smoothing) },
				"sampleWindow": func(path string, v any) { d.integer(path, v, &c.SampleWindow) },
				"longWindow":   func(path string, v any) { d.integer(path, v, &c.LongWindow) },
				"tolerance":    func(path string, v any) { d.float(path, v, &c.Tolerance) },
				"queue":        func(path string, v any) { d.integer(path, v, &c.Queue) },
			})
		}),
		"hedge": kind("hedge", func(path string, v any) {
			c := &hedge.Config{Name: name}
			p.Hedge = c
			d.object(path, v, fields{
				"maxHedges":   func(path string, v any) { d.integer(path, v, &c.MaxHedges) },
				"delay":       func(path string, v any) { d.duration(path, v, &c.Delay) },
				"quantile":    func(path string, v any) { d.float(path, v, &c.Quantile) },
				"samples":     func(path string, v any) { d.integer(path, v, &c.Samples) },
				"minSamples":  func(path string, v any) { d.integer(path, v, &c.MinSamples) },
				"budgetRatio": func(path string, v any) { d.float(path, v, &c.BudgetRatio) },
				"budgetBurst": func(path string, v any) { d.integer(path, v, &c.BudgetBurst) },
			})
		}),
	}
}

// jitters are the names of retry.Jitter's values, in their order.
var jitters = []string{"proportional", "none", "full", "equal", "decorrelated", "random"}

// retry reads a retry policy; it returns the budget's configuration when
// the file sets one.
func (d *decoder) retry(path string, v any, c *retry.Config) *retry.BudgetConfig {
	var budget *retry.BudgetConfig
	d.object(path, v, fields{
		"maxAttempts":   func(path string, v any) { d.integer(path, v, &c.MaxAttempts) },
		"maxElapsed":    func(path string, v any) { d.duration(path, v, &c.MaxElapsed) },
		"delay":         func(path string, v any) { d.duration(path, v, &c.Delay) },
		"multiplier":    func(path string, v any) { d.float(path, v, &c.Multiplier) },
		"maxDelay":      func(path string, v any) { d.duration(path, v, &c.MaxDelay) },
		"maxRetryAfter": func(path string, v any) { d.duration(path, v, &c.MaxRetryAfter) },
		"jitter": func(path string, v any) {
			if i := d.choice(path, v, jitters); i >= 0 {
				c.Jitter = retry.Jitter(i)
			}
		},
		"jitterFactor":   func(path string, v any) { d.float(path, v, &c.JitterFactor) },
		"jitterDuration": func(path string, v any) { d.duration(path, v, &c.JitterDuration) },
		"budget": func(path string, v any) {
			if _, ok := v.(map[string]any); !ok { // true: the default budget; false: none
				on := true
				d.boolean(path, v, &on)
				c.NoBudget = !on
				return
			}
			budget = &retry.BudgetConfig{}
			d.object(path, v, fields{
				"maxTokens":           func(path string, v any) { d.float(path, v, &budget.MaxTokens) },
				"tokenRatio":          func(path string, v any) { d.float(path, v, &budget.TokenRatio) },
				"minRetriesPerSecond": func(path string, v any) { d.float(path, v, &budget.MinRetriesPerSecond) },
				"noFloor":             func(path string, v any) { d.boolean(path, v, &budget.NoFloor) },
			})
		},
	})
	return budget
}

// breaker reads a breaker: its trip condition is one choice.
func (d *decoder) breaker(path string, v any, c *breaker.Config) {
	d.object(path, v, fields{
		"trip": func(path string, v any) {
			m, ok := v.(map[string]any)
			if v != nil && (!ok || len(m) != 1) {
				d.fail(path, "must be an object with one key: consecutive, countWindow or timeWindow, got %s", describe(v))
				return
			}
			d.object(path, v, fields{
				"consecutive": func(path string, v any) {
					if v != nil {
						var n int
						d.integer(path, v, &n)
						c.Trip = breaker.Consecutive(n)
					}
				},
				"countWindow": func(path string, v any) {
					if v != nil {
						var w breaker.CountWindow
						d.window(path, v, &w.Size, nil, nil, &w.FailureRate, &w.SlowCallRate, &w.MinCalls, &w.FailureCount, &w.ConsecutiveFailures)
						c.Trip = w
					}
				},
				"timeWindow": func(path string, v any) {
					if v != nil {
						var w breaker.TimeWindow
						d.window(path, v, nil, &w.Length, &w.Buckets, &w.FailureRate, &w.SlowCallRate, &w.MinCalls, &w.FailureCount, &w.ConsecutiveFailures)
						c.Trip = w
					}
				},
			})
		},
		"slowCallDuration":       func(path string, v any) { d.duration(path, v, &c.SlowCallDuration) },
		"openDuration":           func(path string, v any) { d.duration(path, v, &c.OpenDuration) },
		"openDurationMultiplier": func(path string, v any) { d.float(path, v, &c.OpenDurationMultiplier) },
		"maxOpenDuration":        func(path string, v any) { d.duration(path, v, &c.MaxOpenDuration) },
		"halfOpen": func(path string, v any) {
			h := &c.HalfOpen
			d.object(path, v, fields{
				"max":              func(path string, v any) { d.integer(path, v, &h.Max) },
				"inFlight":         func(path string, v any) { d.boolean(path, v, &h.InFlight) },
				"successesToClose": func(path string, v any) { d.integer(path, v, &h.SuccessesToClose) },
				"failureRate":      func(path string, v any) { d.float(path, v, &h.FailureRate) },
				"timeout":          func(path string, v any) { d.duration(path, v, &h.Timeout) },
			})
		},
		"shadow": func(path string, v any) { d.boolean(path, v, &c.Shadow) },
	})
}

// window reads a count or time window's fields; size is set for a count
// window, length and buckets for a time window.
func (d *decoder) window(path string, v any, size *int, length *time.Duration, buckets *int, failureRate, slowCallRate *float64, minCalls, failureCount, consecutive *int) {
	fs := fields{
		"failureRate":         func(path string, v any) { d.float(path, v, failureRate) },
		"slowCallRate":        func(path string, v any) { d.float(path, v, slowCallRate) },
		"minCalls":            func(path string, v any) { d.integer(path, v, minCalls) },
		"failureCount":        func(path string, v any) { d.integer(path, v, failureCount) },
		"consecutiveFailures": func(path string, v any) { d.integer(path, v, consecutive) },
	}
	if size != nil {
		fs["size"] = func(path string, v any) { d.integer(path, v, size) }
	} else {
		fs["length"] = func(path string, v any) { d.duration(path, v, length) }
		fs["buckets"] = func(path string, v any) { d.integer(path, v, buckets) }
	}
	d.object(path, v, fs)
}

// limits reads the verify section.
func (d *decoder) limits(l *Limits, path string, v any) {
	d.object(path, v, fields{
		"maxAmplification": func(path string, v any) { d.float(path, v, &l.MaxAmplification) },
		"maxRecovery":      func(path string, v any) { d.duration(path, v, &l.MaxRecovery) },
		"maxWastedWork":    func(path string, v any) { d.float(path, v, &l.MaxWastedWork) },
		"maxOutageLoad":    func(path string, v any) { d.float(path, v, &l.MaxOutageLoad) },
		"maxFalseTrips":    func(path string, v any) { d.integer(path, v, &l.MaxFalseTrips) },
		"maxFalseShed":     func(path string, v any) { d.float(path, v, &l.MaxFalseShed) },
	})
	for _, f := range []struct {
		name string
		bad  bool
	}{
		{"maxAmplification", l.MaxAmplification < 0}, {"maxRecovery", l.MaxRecovery < 0}, {"maxWastedWork", l.MaxWastedWork < 0},
		{"maxOutageLoad", l.MaxOutageLoad < 0}, {"maxFalseTrips", l.MaxFalseTrips < 0}, {"maxFalseShed", l.MaxFalseShed < 0},
	} {
		if f.bad {
			d.fail(join(path, f.name), "must not be negative")
		}
	}
}

// value is the policy's configuration.
func (p Policy) value() any {
	switch p.kind {
	case "retry":
		return *p.Retry
	case "breaker":
		return *p.Breaker
	case "timeout":
		return *p.Timeout
	case "bulkhead":
		return *p.Bulkhead
	case "rateLimit":
		return *p.RateLimit
	case "throttle":
		return *p.Throttle
	case "adaptive":
		return *p.Adaptive
	case "hedge":
		return *p.Hedge
	}
	return nil
}
