package live

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/internal/sim"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
	"github.com/failsafe-go/failsafe-go"
	fsadaptive "github.com/failsafe-go/failsafe-go/adaptivelimiter"
	fsbudget "github.com/failsafe-go/failsafe-go/budget"
	fscb "github.com/failsafe-go/failsafe-go/circuitbreaker"
	fsretry "github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/sony/gobreaker/v2"
)

// Clients are the configurations played in real time: Breakwater's
// (from the simulator's, with the same durations scaled), and the peers'
// closest equivalents, configured as their documentation shows, with the
// same thresholds and windows and every time constant scaled like ours.
// The retries are the simulator's everywhere: 4 attempts, 100 ms
// doubling; failsafe-go's delays are jittered by ±50 %
// (WithJitterFactor(0.5)) as its README's example does.
func Clients(scale float64) []Client {
	scaled := func(d time.Duration) time.Duration { return time.Duration(float64(d) / scale) }
	var cs []Client
	for _, p := range []sim.Policy{sim.MetastableConfigs()[1], sim.Recommended()} {
		cs = append(cs, ours(p, scaled))
	}
	return append(cs, gobreakerClient(scaled), failsafeClient("retry", scaled, false, false, false),
		failsafeClient("retry + budget", scaled, true, false, false),
		failsafeClient("retry + breaker (failure rate)", scaled, false, true, false),
		failsafeClient("retry + adaptive limiter", scaled, false, false, true),
		failsafeClient("retry + budget + breaker + adaptive limiter", scaled, true, true, true))
}

// ours builds a simulator configuration with the real clock, its
// durations scaled.
func ours(p sim.Policy, scaled func(time.Duration) time.Duration) Client {
	var policies []any
	if p.Retry != nil {
		cfg := *p.Retry
		cfg.Delay, cfg.NoBudget = scaled(cfg.Delay), !p.Budget
		policies = append(policies, must(retry.New(cfg)))
	}
	if p.Throttle != nil {
		cfg := *p.Throttle
		cfg.Window = scaled(2 * time.Minute) // throttle's default Window
		policies = append(policies, must(throttle.New(cfg)))
	}
	if p.Breaker != nil {
		cfg := *p.Breaker
		if w, ok := cfg.Trip.(breaker.TimeWindow); ok {
			w.Length = scaled(w.Length)
			cfg.Trip = w
		}
		cfg.OpenDuration, cfg.SlowCallDuration = scaled(cfg.OpenDuration), scaled(cfg.SlowCallDuration)
		policies = append(policies, must(breaker.New(cfg)))
	}
	if p.Adaptive != nil {
		policies = append(policies, must(adaptive.New(*p.Adaptive)))
	}
	return Client{Name: "breakwater: " + p.Name, Shed: outcome.Rejected,
		Do: func(ctx context.Context, attempt func(context.Context) error) error {
			_, err := breakwater.Execute(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, attempt(ctx) }, policies...)
			return err
		}}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// gobreakerClient is sony/gobreaker with the simulator's failure-rate rule
// (half the calls failing, at least 20, over a 10 s window; open 5 s, one
// probe), on v2.4's rolling window (BucketPeriod: ten buckets, as its
// README shows) rather than a tumbling Interval, and judging completed
// calls as ours does (Requests counts those in flight too). gobreaker has
// no retries: the loop around it makes the same attempts with full
// jitter, and stops on a rejection.
func gobreakerClient(scaled func(time.Duration) time.Duration) Client {
	cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name: "live", MaxRequests: 1, Interval: scaled(10 * time.Second), BucketPeriod: scaled(time.Second),
		Timeout: scaled(5 * time.Second),
		ReadyToTrip: func(c gobreaker.Counts) bool {
			done := c.TotalSuccesses + c.TotalFailures
			return done >= 20 && float64(c.TotalFailures) >= 0.5*float64(done)
		},
	})
	rejected := func(err error) bool {
		return errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
	}
	base := scaled(100 * time.Millisecond)
	return Client{Name: "gobreaker: retry + breaker (failure rate)", Shed: rejected,
		Do: func(ctx context.Context, attempt func(context.Context) error) error {
			var err error
			for n := range 4 {
				if n > 0 {
					time.Sleep(rand.N(base << (n - 1)))
				}
				_, err = cb.Execute(func() (struct{}, error) { return struct{}{}, attempt(ctx) })
				if err == nil || rejected(err) {
					return err
				}
			}
			return err
		}}
}

// failsafeClient is failsafe-go with its retry policy and, as asked, its
// retry budget (Envoy's rule: 20 % of executions in flight, at least 3),
// a circuit breaker on failure rate (50 % of at least 20 executions over
// 10 s, open 5 s) that does not count the limiter's rejections as
// failures (HandleIf, as its docs show for errors that say nothing of the
// dependency; ours ignores them by default), and its adaptive limiter with
// its recent window (1 s to 30 s, by default) scaled like every other
// duration.
func failsafeClient(name string, scaled func(time.Duration) time.Duration, budget, breaker, limiter bool) Client {
	rb := fsretry.NewBuilder[any]().WithMaxAttempts(4).
		WithBackoff(scaled(100*time.Millisecond), scaled(800*time.Millisecond)).WithJitterFactor(0.5).
		AbortOnErrors(fscb.ErrOpen, fsadaptive.ErrExceeded).ReturnLastFailure()
	if budget {
		rb = rb.WithBudget(fsbudget.New())
	}
	policies := []failsafe.Policy[any]{rb.Build()}
	if breaker {
		policies = append(policies, fscb.NewBuilder[any]().
			HandleIf(func(_ any, err error) bool { return err != nil && !errors.Is(err, fsadaptive.ErrExceeded) }).
			WithFailureRateThreshold(0.5, 20, scaled(10*time.Second)).WithDelay(scaled(5*time.Second)).Build())
	}
	if limiter {
		policies = append(policies, fsadaptive.NewBuilder[any]().WithRecentWindow(scaled(time.Second), scaled(30*time.Second), 50).Build())
	}
	exec := failsafe.With(policies...)
	return Client{Name: "failsafe-go: " + name,
		Shed: func(err error) bool {
			return errors.Is(err, fscb.ErrOpen) || errors.Is(err, fsadaptive.ErrExceeded) || errors.Is(err, fsretry.ErrExceeded) && errors.Is(err, fsbudget.ErrExceeded)
		},
		Do: func(ctx context.Context, attempt func(context.Context) error) error {
			return exec.WithContext(ctx).Run(func() error { return attempt(ctx) })
		}}
}
