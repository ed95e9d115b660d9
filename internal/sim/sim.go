// Package sim replays an outage on a simulated clock: a dependency that is
// healthy, then fails for a while, then recovers, called at a steady rate
// through a resilience configuration. It reports what the dependency and
// the users saw. The same scenario and seed always give the same numbers.
//
// The model: requests arrive as a Poisson process. Each attempt reaches the
// dependency instantly. The dependency serves at most Capacity attempts a
// second (in slots of 100 ms); beyond that, attempts fail (overload); during
// the outage every attempt fails; otherwise a small share fails at random.
// A request succeeds when one of its attempts does, is served by the
// fallback when the breaker turns it away and a fallback is configured, and
// fails otherwise.
//
// The real Breakwater breaker runs on a fake clock set to each event's
// time; retries use the real policy's delays (jitter included, from the
// scenario's seeded random source) and its retry budget.
package sim

import (
	"container/heap"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
)

// Scenario is the traffic and the outage.
type Scenario struct {
	Seed        uint64
	Duration    time.Duration // how long requests arrive
	Rate        float64       // requests a second
	OutageStart time.Duration
	OutageEnd   time.Duration
	Capacity    float64 // attempts a second the dependency can serve
	ErrorRate   float64 // share of attempts that fail outside the outage
}

// Default is the scenario of docs/simulation.md: 100 requests a second for
// two minutes against a dependency that can serve 200 a second and is down
// from 0:30 to 1:00.
var Default = Scenario{
	Seed: 1, Duration: 120 * time.Second, Rate: 100,
	OutageStart: 30 * time.Second, OutageEnd: 60 * time.Second,
	Capacity: 200, ErrorRate: 0.01,
}

// Policy is a resilience configuration: nil parts are absent.
type Policy struct {
	Name   string
	Retry  *retry.Config // retry around the breaker; NoBudget unless Budget
	Budget bool          // give the retries a budget: BudgetConfig's, or the policy's default
	// BudgetConfig, when set with Budget, configures the retries' budget.
	BudgetConfig *retry.BudgetConfig
	Breaker      *breaker.Config // a breaker on every attempt
	Fallback     bool            // answer rejected requests from a cache
	// Throttle, Adaptive and Anchor are used by RunOverload only.
	Throttle *throttle.Config
	Adaptive *adaptive.Config
	// Anchor, when set, bounds the retries by another system's retry
	// budget instead of Budget's: a comparison, not a Breakwater policy.
	Anchor Anchor
}

// Result is what a configuration did in a scenario.
type Result struct {
	Name      string
	Requests  int
	Succeeded int
	Failed    int // failed for the user
	Fallbacks int // served by the fallback
	Attempts  int // attempts that reached the dependency
	Retries   int // attempts after the first, sent
	// OutageAttempts counts the attempts that reached the failing
	// dependency during the outage.
	OutageAttempts int
	// Recovery is the time from the end of the outage until the first second
	// in which 98% of the requests that ended succeeded; -1 if that never
	// happened before the traffic stopped.
	Recovery time.Duration
	// Load is the number of attempts reaching the dependency in each second.
	Load []int
}

type attempt struct {
	at      time.Duration
	req, n  int           // request, attempt number from 1
	prev    time.Duration // the delay before this attempt
	arrived time.Duration
}

func (a attempt) when() (time.Duration, int) { return a.at, a.req }

// timeline is a heap of things that happen, earliest first; ties go by
// their second key.
type timeline[E interface{ when() (time.Duration, int) }] []E

func (q timeline[E]) Len() int { return len(q) }
func (q timeline[E]) Less(i, j int) bool {
	ai, ki := q[i].when()
	aj, kj := q[j].when()
	if ai != aj {
		return ai < aj
	}
	return ki < kj
}
func (q timeline[E]) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *timeline[E]) Push(x any)   { *q = append(*q, x.(E)) }
func (q *timeline[E]) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

var errDependency = errors.New("dependency failed")

// Run plays scenario sc through policy p.
func Run(sc Scenario, p Policy) (Result, error) {
	rng := rand.New(rand.NewPCG(sc.Seed, 0x5eed))
	clk := clocktest.NewFake(time.Time{})
	start := clk.Now()

	var b *breaker.Breaker
	if p.Breaker != nil {
		cfg := *p.Breaker
		cfg.Clock = clk
		var err error
		if b, err = breaker.New(cfg); err != nil {
			return Result{}, err
		}
	}
	var r *retry.Policy
	var budget *retry.Budget
	if p.Retry != nil {
		cfg := *p.Retry
		cfg.Clock, cfg.Rand, cfg.NoBudget = clk, rng.Float64, !p.Budget
		var err error
		if cfg.Budget, err = p.budget(clk); err != nil {
			return Result{}, err
		}
		if r, err = retry.New(cfg); err != nil {
			return Result{}, err
		}
		budget = r.Budget()
	}
	maxAttempts := 1
	if p.Retry != nil {
		maxAttempts = p.Retry.MaxAttempts
		if maxAttempts == 0 {
			maxAttempts = 4 // retry's default
		}
	}

	res := Result{Name: p.Name, Recovery: -1}
	seconds := int(math.Ceil((sc.Duration + time.Minute).Seconds())) // room for retries after the last arrival
	res.Load = make([]int, seconds)
	ended := make([]int, seconds) // requests that ended, by second
	endedOK := make([]int, seconds)

	// Arrivals.
	q := &timeline[attempt]{}
	for t, id := time.Duration(0), 0; ; id++ {
		t += time.Duration(rng.ExpFloat64() / sc.Rate * float64(time.Second))
		if t >= sc.Duration {
			break
		}
		heap.Push(q, attempt{at: t, req: id, n: 1, arrived: t})
		res.Requests++
	}

	const slot = 100 * time.Millisecond
	perSlot := sc.Capacity * slot.Seconds()
	served := map[int64]float64{} // attempts served per slot
	end := func(at time.Duration, ok bool) {
		s := min(int(at/time.Second), seconds-1)
		ended[s]++
		if ok {
			endedOK[s]++
		}
	}

	for q.Len() > 0 {
		a := heap.Pop(q).(attempt)
		clk.Set(start.Add(a.at)) // fires the breaker's timers due by then
		var permit outcome.Permit
		if b != nil {
			var err error
			if permit, err = b.Allow(context.Background()); err != nil {
				if p.Fallback {
					res.Fallbacks++
				} else {
					res.Failed++
				}
				end(a.at, false)
				continue
			}
		}
		res.Attempts++
		if a.n > 1 {
			res.Retries++
		}
		if s := int(a.at / time.Second); s < seconds {
			res.Load[s]++
		}
		outage := a.at >= sc.OutageStart && a.at < sc.OutageEnd
		if outage {
			res.OutageAttempts++
		}
		slotID := int64(a.at / slot)
		var err error
		switch {
		case outage, served[slotID] >= perSlot:
			err = errDependency
		case rng.Float64() < sc.ErrorRate:
			err = errDependency
		}
		served[slotID]++
		permit.Done(err)

		if err == nil {
			if budget != nil {
				budget.RecordSuccess()
			}
			res.Succeeded++
			end(a.at, true)
			continue
		}
		if budget != nil {
			budget.RecordFailure()
		}
		if a.n >= maxAttempts || (budget != nil && !budget.AllowRetry()) {
			res.Failed++
			end(a.at, false)
			continue
		}
		d := r.Delay(a.n, a.prev)
		heap.Push(q, attempt{at: a.at + d, req: a.req, n: a.n + 1, prev: d, arrived: a.arrived})
	}

	for s := int(sc.OutageEnd / time.Second); s < int(sc.Duration/time.Second); s++ {
		if ended[s] > 0 && float64(endedOK[s]) >= 0.98*float64(ended[s]) {
			res.Recovery = time.Duration(s)*time.Second - sc.OutageEnd
			break
		}
	}
	return res, nil
}

// budget is the retries' budget of BudgetConfig, on clk; nil for the
// policy's default (or none).
func (p Policy) budget(clk clock.Clock) (*retry.Budget, error) {
	if !p.Budget || p.BudgetConfig == nil {
		return nil, nil
	}
	cfg := *p.BudgetConfig
	cfg.Clock = clk
	return retry.NewBudget(cfg)
}
