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
	brk := &breaker.Config{ConsecutiveFailures: 5, OpenDuration: 5 * time.Second}
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
		{Name: "retry + breaker (failure rate)", Retry: retries, Breaker: &breaker.Config{FailureRate: 0.5, TimeWindow: 10 * time.Second, MinCalls: 20, OpenDuration: 5 * time.Second}},
		{Name: "retry + throttle", Retry: retries, Throttle: &throttle.Config{}},
		{Name: "retry + adaptive limit", Retry: retries, Adaptive: &adaptive.Config{}},
		{Name: "retry + budget + throttle + adaptive limit", Retry: retries, Budget: true, Throttle: &throttle.Config{}, Adaptive: &adaptive.Config{}},
	}
}
