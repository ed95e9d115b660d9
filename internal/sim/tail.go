package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Tail is a dependency whose latency has a heavy tail: most calls take
// about Typical (log-normally spread), a share SlowShare take Slowdown
// times as long. Calls do not queue: each attempt's latency is drawn
// afresh, so a hedge of a slow call is most likely quick.
type Tail struct {
	Seed      uint64
	Requests  int
	Rate      float64 // requests a second, for the budget's refill
	Typical   time.Duration
	SlowShare float64
	Slowdown  float64
}

// HeavyTail is 1 % of calls 50× slower than the typical 10 ms.
var HeavyTail = Tail{Seed: 1, Requests: 200_000, Rate: 1000, Typical: 10 * time.Millisecond, SlowShare: 0.01, Slowdown: 50}

// Hedging is a hedging configuration for RunTail, with the rules of
// package hedge: MaxHedges extra attempts, started Delay apart (or at the
// Quantile of the last 1,000 successful calls once 100 are known), while
// a budget of BudgetRatio of calls (burst 10) allows.
type Hedging struct {
	Name        string
	MaxHedges   int
	Delay       time.Duration
	Quantile    float64
	BudgetRatio float64
}

// TailResult is what a hedging configuration did.
type TailResult struct {
	Name           string
	P50, P99, P999 time.Duration
	Extra          float64 // extra attempts ÷ requests
	Percentiles    []time.Duration
}

// TailPercentiles are the percentiles of TailResult.Percentiles.
var TailPercentiles = []float64{50, 90, 95, 99, 99.5, 99.9, 99.95}

// RunTail plays scenario tl through hedging configuration h (zero
// MaxHedges: no hedging).
func RunTail(tl Tail, h Hedging) TailResult {
	rng := rand.New(rand.NewPCG(tl.Seed, 0x7a11))
	draw := func() time.Duration {
		d := float64(tl.Typical) * math.Exp(0.25*rng.NormFloat64())
		if rng.Float64() < tl.SlowShare {
			d *= tl.Slowdown
		}
		return time.Duration(d)
	}
	const burst = 10.0
	tokens := burst
	var record []time.Duration // the last 1,000 successful latencies
	next, fresh := 0, 0
	var quantileDelay time.Duration
	latencies := make([]time.Duration, tl.Requests)
	extra := 0
	for i := range latencies {
		tokens = min(tokens+h.BudgetRatio, burst)
		delay := h.Delay
		if quantileDelay > 0 {
			delay = quantileDelay
		}
		// Attempt k starts at k × delay while no earlier one has answered;
		// the call ends with the first answer.
		best := draw()
		for k := 1; k <= h.MaxHedges; k++ {
			at := time.Duration(k) * delay
			if best <= at || tokens < 1 {
				break
			}
			tokens--
			extra++
			best = min(best, at+draw())
		}
		latencies[i] = best
		if h.Quantile > 0 {
			if len(record) < 1000 {
				record = append(record, best)
			} else {
				record[next] = best
			}
			next, fresh = (next+1)%1000, fresh+1
			if len(record) >= 100 && (quantileDelay == 0 || fresh >= 100) {
				fresh = 0
				s := slices.Clone(record)
				slices.Sort(s)
				quantileDelay = s[int(math.Ceil(h.Quantile*float64(len(s))))-1]
			}
		}
	}
	slices.Sort(latencies)
	at := func(p float64) time.Duration {
		return latencies[min(len(latencies)-1, int(math.Ceil(p/100*float64(len(latencies))))-1)]
	}
	r := TailResult{Name: h.Name, P50: at(50), P99: at(99), P999: at(99.9), Extra: float64(extra) / float64(tl.Requests)}
	for _, p := range TailPercentiles {
		r.Percentiles = append(r.Percentiles, at(p))
	}
	return r
}

// TailConfigs are the hedging configurations compared on a heavy tail.
func TailConfigs() []Hedging {
	return []Hedging{
		{Name: "no hedging"},
		{Name: "hedge after 50 ms", MaxHedges: 1, Delay: 50 * time.Millisecond, BudgetRatio: 0.1},
		{Name: "hedge at the p95", MaxHedges: 1, Delay: 50 * time.Millisecond, Quantile: 0.95, BudgetRatio: 0.1},
		{Name: "hedge at the p99", MaxHedges: 1, Delay: 50 * time.Millisecond, Quantile: 0.99, BudgetRatio: 0.1},
	}
}
