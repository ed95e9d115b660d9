package sim

import (
	"time"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
)

// Configs are the configurations the simulator compares, from no
// protection to retries behind a breaker with a retry budget.
func Configs() []Policy {
	retries := func(j retry.Jitter) *retry.Config {
		return &retry.Config{MaxAttempts: 4, Delay: time.Second, Multiplier: 2, Jitter: j}
	}
	brk := &breaker.Config{Trip: breaker.Consecutive(5), OpenDuration: 5 * time.Second}
	return []Policy{
		{Name: "no protection"},
		{Name: "retry, no jitter", Retry: retries(retry.JitterNone)},
		{Name: "retry, full jitter", Retry: retries(retry.JitterFull)},
		{Name: "retry + budget", Retry: retries(retry.JitterFull), Budget: true},
		{Name: "breaker", Breaker: brk, Fallback: true},
		{Name: "retry + breaker", Retry: retries(retry.JitterFull), Breaker: brk, Fallback: true},
		{Name: "retry + breaker + budget", Retry: retries(retry.JitterFull), Breaker: brk, Budget: true, Fallback: true},
	}
}

// OverloadConfigs are the configurations compared when the dependency's
// capacity falls: retries alone, and each load-shedding policy with them.
// Retries here are quick (100 ms, doubling), as for an interactive call.
func OverloadConfigs() []Policy {
	retries := &retry.Config{MaxAttempts: 4, Delay: 100 * time.Millisecond, Multiplier: 2, Jitter: retry.JitterFull}
	return []Policy{
		{Name: "no protection"},
		{Name: "retry", Retry: retries},
		{Name: "retry + budget", Retry: retries, Budget: true},
		{Name: "retry + breaker (failure rate)", Retry: retries, Breaker: &breaker.Config{Trip: breaker.TimeWindow{Length: 10 * time.Second, FailureRate: 0.5, MinCalls: 20}, OpenDuration: 5 * time.Second}},
		{Name: "retry + throttle", Retry: retries, Throttle: &throttle.Config{}},
		{Name: "retry + adaptive limit", Retry: retries, Adaptive: &adaptive.Config{}},
		{Name: "retry + budget + throttle + adaptive limit", Retry: retries, Budget: true, Throttle: &throttle.Config{}, Adaptive: &adaptive.Config{}},
	}
}

// Metastable is the trigger of a metastable failure (Huang et al.,
// OSDI '22): 150 requests a second against a server of capacity 200 a
// second whose capacity falls to 40 % for ten seconds, from 0:30 to 0:40;
// clients give up after 1 s. The queue the trigger leaves behind makes
// attempts time out after it has ended; whether their retries keep the
// server overloaded is what a configuration is judged on.
var Metastable = Overload{
	Seed: 1, Duration: 2 * time.Minute, Rate: 150, Workers: 20, ServiceTime: 100 * time.Millisecond,
	Timeout: time.Second, TriggerStart: 30 * time.Second, TriggerEnd: 40 * time.Second, TriggerCapacity: 0.4,
	ErrorRate: 0.01,
}

// Background is the same server and traffic with no trigger and 5 % of
// attempts failing at random: whatever a policy trips or sheds here is a
// false alarm.
var Background = Overload{
	Seed: 1, Duration: 2 * time.Minute, Rate: 150, Workers: 20, ServiceTime: 100 * time.Millisecond,
	Timeout: time.Second, TriggerCapacity: 1, ErrorRate: 0.05,
}

// Recommended is the stack the README recommends against overload: retries
// with a budget, outside a breaker on failure rate and slow calls, outside
// an adaptive concurrency limit.
func Recommended() Policy {
	return Policy{Name: "recommended: retry + budget + breaker + adaptive limit", Retry: quickRetries(), Budget: true,
		Breaker: slowOrFailing(), Adaptive: &adaptive.Config{}}
}

func quickRetries() *retry.Config {
	return &retry.Config{MaxAttempts: 4, Delay: 100 * time.Millisecond, Multiplier: 2, Jitter: retry.JitterFull}
}

// slowOrFailing opens on half the calls failing or being slow (≥ 500 ms)
// over 10 s, at least 20 calls, for 5 s.
func slowOrFailing() *breaker.Config {
	return &breaker.Config{Trip: breaker.TimeWindow{Length: 10 * time.Second, FailureRate: 0.5, SlowCallRate: 0.5, MinCalls: 20}, SlowCallDuration: 500 * time.Millisecond,
		OpenDuration: 5 * time.Second}
}

// MetastableConfigs are the configurations scored in the metastable and
// background scenarios: ours, alone and combined, and the anchors (other
// systems' retry budgets).
func MetastableConfigs() []Policy {
	retries := quickRetries()
	rate := &breaker.Config{Trip: breaker.TimeWindow{Length: 10 * time.Second, FailureRate: 0.5, MinCalls: 20}, OpenDuration: 5 * time.Second}
	slow := &breaker.Config{Trip: breaker.TimeWindow{Length: 10 * time.Second, FailureRate: 1, SlowCallRate: 0.5, MinCalls: 20}, SlowCallDuration: 500 * time.Millisecond,
		OpenDuration: 5 * time.Second}
	return []Policy{
		{Name: "no protection"},
		{Name: "retry", Retry: retries},
		{Name: "retry + budget (gRPC's tokens, 1/s floor)", Retry: retries, Budget: true},
		{Name: "retry + Envoy's budget (anchor)", Retry: retries, Anchor: EnvoyBudget{Percent: 0.2, MinConcurrency: 3}},
		{Name: "retry + Finagle's budget (anchor)", Retry: retries, Anchor: &FinagleBudget{Percent: 0.2, MinPerSecond: 10, TTL: 10 * time.Second}},
		{Name: "retry + throttle (K = 2, p ≤ 0.9)", Retry: retries, Throttle: &throttle.Config{}},
		{Name: "retry + breaker (failure rate)", Retry: retries, Breaker: rate},
		{Name: "retry + breaker (slow calls)", Retry: retries, Breaker: slow},
		{Name: "retry + adaptive limit", Retry: retries, Adaptive: &adaptive.Config{}},
		{Name: "retry + budget + breaker (failure rate, slow calls)", Retry: retries, Budget: true, Breaker: slowOrFailing()},
		{Name: "retry + budget + adaptive limit", Retry: retries, Budget: true, Adaptive: &adaptive.Config{}},
		Recommended(),
	}
}
