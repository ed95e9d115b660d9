// Package bench measures Breakwater next to the Go libraries users would
// otherwise pick, doing the same work in one run on one machine. It is a
// module of its own, so the peers never enter Breakwater's dependencies.
//
// Benchmarks are named Benchmark<Case>/<library>/<mode>; run.sh runs them
// and writes the table of README.md.
package bench

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	"github.com/avast/retry-go/v4"
	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/ratelimit"
	bwretry "github.com/breakwater-go/breakwater/retry"
	"github.com/cenkalti/backoff/v5"
	eapache "github.com/eapache/go-resiliency/breaker"
	"github.com/failsafe-go/failsafe-go"
	fsadaptive "github.com/failsafe-go/failsafe-go/adaptivelimiter"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	fscb "github.com/failsafe-go/failsafe-go/circuitbreaker"
	fsratelimit "github.com/failsafe-go/failsafe-go/ratelimiter"
	fsretry "github.com/failsafe-go/failsafe-go/retrypolicy"
	mercari "github.com/mercari/go-circuitbreaker"
	sethvargo "github.com/sethvargo/go-retry"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"
)

var errFail = errors.New("fail")

// The protected function of every case.
//
//go:noinline
func work() error { return nil }

//go:noinline
func workCtx(context.Context) error { return nil }

//go:noinline
func workValue() (int, error) { return 1, nil }

//go:noinline
func workValueCtx(context.Context) (int, error) { return 1, nil }

// both runs call serially and with b.RunParallel, as sub-benchmarks.
func both(b *testing.B, name string, call func()) {
	b.Run(name+"/serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			call()
		}
	})
	b.Run(name+"/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				call()
			}
		})
	})
}

func BenchmarkBaseline(b *testing.B) {
	both(b, "call", func() { _ = work() })
	var mu sync.Mutex
	both(b, "mutex", func() { mu.Lock(); _ = work(); mu.Unlock() })
}

// BenchmarkClosedSuccess: a successful call through a closed breaker.
func BenchmarkClosedSuccess(b *testing.B) {
	ctx := context.Background()
	bw, _ := breaker.New(breaker.Config{Name: "bench"})
	both(b, "breakwater", func() { _ = bw.Do(ctx, workCtx) })

	gb := gobreaker.NewCircuitBreaker[int](gobreaker.Settings{Name: "bench"})
	both(b, "gobreaker", func() { _, _ = gb.Execute(workValue) })

	// failsafe-go through its executor (failsafe.With(...).Run, its
	// README's first example) and through the policy's own standalone API
	// (TryAcquirePermit, then RecordSuccess or RecordFailure: its
	// "Standalone usage" docs), which skips the executor's context check,
	// panic recovery and listeners. Breakwater's two-step form (Allow,
	// then Permit.Done) is its counterpart, and keeps the error's
	// classification; Do adds a context check and panic safety.
	fs := failsafe.With[any](fscb.NewWithDefaults[any]())
	both(b, "failsafe-go", func() { _ = fs.Run(work) })
	fsStandalone := fscb.NewWithDefaults[any]()
	both(b, "failsafe-go-standalone", func() {
		if fsStandalone.TryAcquirePermit() {
			if work() == nil {
				fsStandalone.RecordSuccess()
			} else {
				fsStandalone.RecordFailure()
			}
		}
	})
	both(b, "breakwater-two-step", func() {
		if p, err := bw.Allow(ctx); err == nil {
			p.Done(work())
		}
	})

	hystrix.ConfigureCommand("closed", hystrix.CommandConfig{MaxConcurrentRequests: 10000, Timeout: 10000})
	both(b, "hystrix-go", func() { _ = hystrix.Do("closed", work, nil) })

	ea := eapache.New(5, 1, time.Minute)
	both(b, "eapache", func() { _ = ea.Run(work) })

	me := mercari.New()
	both(b, "mercari", func() { _, _ = me.Do(ctx, func() (any, error) { return nil, work() }) })
}

// BenchmarkOpenReject: a call turned away by an open breaker.
func BenchmarkOpenReject(b *testing.B) {
	ctx := context.Background()
	bw, _ := breaker.New(breaker.Config{Name: "bench", OpenDuration: time.Hour})
	bw.Trip()
	both(b, "breakwater", func() { _ = bw.Do(ctx, workCtx) })

	gb := gobreaker.NewCircuitBreaker[int](gobreaker.Settings{Name: "bench", Timeout: time.Hour,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 }})
	gb.Execute(func() (int, error) { return 0, errFail })
	both(b, "gobreaker", func() { _, _ = gb.Execute(workValue) })

	cb := fscb.NewBuilder[any]().WithDelay(time.Hour).Build()
	cb.Open()
	fs := failsafe.With[any](cb)
	both(b, "failsafe-go", func() { _ = fs.Run(work) })
	both(b, "failsafe-go-standalone", func() { _ = cb.TryAcquirePermit() }) // see ClosedSuccess
	both(b, "breakwater-two-step", func() {
		if p, err := bw.Allow(ctx); err == nil {
			p.Done(work())
		}
	})

	hystrix.ConfigureCommand("open", hystrix.CommandConfig{MaxConcurrentRequests: 10000, Timeout: 10000,
		RequestVolumeThreshold: 1, ErrorPercentThreshold: 1, SleepWindow: 3600000})
	for i := 0; i < 10000 && !errors.Is(hystrix.Do("open", func() error { return errFail }, nil), hystrix.ErrCircuitOpen); i++ {
		time.Sleep(time.Millisecond) // hystrix-go updates its counts on a goroutine of its own
	}
	both(b, "hystrix-go", func() { _ = hystrix.Do("open", work, nil) })

	ea := eapache.New(1, 1, time.Hour)
	ea.Run(func() error { return errFail })
	both(b, "eapache", func() { _ = ea.Run(work) })

	me := mercari.New(mercari.WithOpenTimeout(time.Hour))
	me.SetState(mercari.StateOpen)
	both(b, "mercari", func() { _, _ = me.Do(ctx, func() (any, error) { return nil, work() }) })
}

// BenchmarkRetryFirstTry: a call that succeeds at once, through a retry
// policy of 3 attempts with exponential backoff.
func BenchmarkRetryFirstTry(b *testing.B) {
	ctx := context.Background()
	bw, _ := bwretry.New(bwretry.Config{MaxAttempts: 3})
	both(b, "breakwater", func() { _, _ = bwretry.Execute(ctx, bw, workValueCtx) })

	both(b, "cenkalti-backoff", func() {
		_, _ = backoff.Retry(ctx, workValue, backoff.WithBackOff(backoff.NewExponentialBackOff()), backoff.WithMaxTries(3))
	})
	both(b, "avast-retry-go", func() { _ = retry.Do(work, retry.Attempts(3), retry.Context(ctx)) })

	// go-retry's backoffs count attempts in themselves: one shared by calls
	// would give later calls no retries, so its README builds one per call.
	both(b, "sethvargo-go-retry", func() {
		_ = sethvargo.Do(ctx, sethvargo.WithMaxRetries(2, sethvargo.NewExponential(time.Second)), workCtx)
	})

	fs := failsafe.With[any](fsretry.NewBuilder[any]().WithMaxAttempts(3).WithBackoff(time.Second, time.Minute).Build())
	both(b, "failsafe-go", func() { _ = fs.Run(work) })
}

// BenchmarkRetryBreaker: a successful call through retry around a breaker.
func BenchmarkRetryBreaker(b *testing.B) {
	ctx := context.Background()
	r, _ := bwretry.New(bwretry.Config{MaxAttempts: 3})
	br, _ := breaker.New(breaker.Config{Name: "bench"})
	call, err := breakwater.Wrap(workValueCtx, r, br)
	if err != nil {
		b.Fatal(err)
	}
	both(b, "breakwater", func() { _, _ = call(ctx) })

	fs := failsafe.With[any](fsretry.NewBuilder[any]().WithMaxAttempts(3).WithBackoff(time.Second, time.Minute).Build(),
		fscb.NewWithDefaults[any]())
	both(b, "failsafe-go", func() { _ = fs.Run(work) })
}

// BenchmarkBulkhead: a call admitted by a bulkhead and its slot released;
// the bound is never reached.
func BenchmarkBulkhead(b *testing.B) {
	ctx := context.Background()
	bw, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1_000_000})
	if err != nil {
		b.Fatal(err)
	}
	both(b, "breakwater", func() { _ = bw.Do(ctx, workCtx) })

	fsb := fsbulkhead.New[any](1_000_000)
	fs := failsafe.With[any](fsb)
	both(b, "failsafe-go", func() { _ = fs.Run(work) })
	both(b, "failsafe-go-standalone", func() { // see ClosedSuccess
		if fsb.TryAcquirePermit() {
			_ = work()
			fsb.ReleasePermit()
		}
	})
	both(b, "breakwater-two-step", func() {
		if p, err := bw.Allow(ctx); err == nil {
			p.Done(work())
		}
	})
}

// BenchmarkAdaptiveLimit: a call admitted by an adaptive concurrency limit
// and its round-trip time sampled.
func BenchmarkAdaptiveLimit(b *testing.B) {
	ctx := context.Background()
	bw, err := adaptive.New(adaptive.Config{})
	if err != nil {
		b.Fatal(err)
	}
	both(b, "breakwater", func() { _ = bw.Do(ctx, workCtx) })

	fsl := fsadaptive.NewWithDefaults[any]()
	fs := failsafe.With[any](fsl)
	both(b, "failsafe-go", func() { _ = fs.Run(work) })
	both(b, "failsafe-go-standalone", func() { // see ClosedSuccess
		if p, ok := fsl.TryAcquirePermit(); ok {
			_ = work()
			p.Record()
		}
	})
	both(b, "breakwater-two-step", func() {
		if p, err := bw.Allow(ctx); err == nil {
			p.Done(work())
		}
	})
}

// BenchmarkRateLimitAllow: a token taken from a bucket that never runs
// dry, without waiting.
func BenchmarkRateLimitAllow(b *testing.B) {
	bw, err := ratelimit.New(ratelimit.Config{Rate: 1e9, Burst: 1_000_000})
	if err != nil {
		b.Fatal(err)
	}
	both(b, "breakwater", func() { _ = bw.Allow() })

	xr := rate.NewLimiter(rate.Limit(1e9), 1_000_000)
	both(b, "x-time-rate", func() { _ = xr.Allow() })

	fr := fsratelimit.NewBursty[any](1_000_000, time.Millisecond)
	both(b, "failsafe-go", func() { _ = fr.TryAcquirePermit() })
}
