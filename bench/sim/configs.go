package sim

import (
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/retry"
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
