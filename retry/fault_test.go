package retry_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/outcome"

	"github.com/breakwater-go/breakwater/retry"
)

// Delay arithmetic saturates: with the largest MaxDelay, no strategy and no
// multiplier may produce a delay that overflowed to zero or below.
func TestDelaysSaturate(t *testing.T) {
	for _, j := range []retry.Jitter{retry.JitterProportional, retry.JitterNone, retry.JitterFull, retry.JitterEqual, retry.JitterDecorrelated} {
		for _, m := range []float64{1, 2, 1000} {
			cfg := retry.Config{Jitter: j, Multiplier: m, Delay: time.Hour, MaxDelay: math.MaxInt64, NoBudget: true}
			if j == retry.JitterFull || j == retry.JitterEqual {
				// a draw of 0 is a legitimate zero (full) or half (equal)
				cfg.Rand = func() float64 { return 0.5 + rand.Float64()/2 }
			}
			p, err := retry.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			prev := time.Duration(0)
			for n := 1; n <= 200; n++ {
				d := p.Delay(n, prev)
				if d <= 0 {
					t.Fatalf("%v ×%v: delay of retry %d = %v", j, m, n, d)
				}
				prev = d
			}
		}
	}
}

// A random source of the user's that strays out of [0, 1) cannot push a
// delay below zero or past MaxDelay.
func TestStrayRandomSourceIsClamped(t *testing.T) {
	for _, r := range []float64{-5, 7, math.NaN(), math.Inf(1)} {
		for _, j := range []retry.Jitter{retry.JitterProportional, retry.JitterFull, retry.JitterEqual, retry.JitterDecorrelated} {
			p, err := retry.New(retry.Config{Jitter: j, Rand: func() float64 { return r }, MaxDelay: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			for n := 1; n < 10; n++ {
				if d := p.Delay(n, time.Second); d < 0 || d > 10*time.Second {
					t.Fatalf("%v with draws of %v: delay %v", j, r, d)
				}
			}
		}
	}
}

// The longest delays still honour a MaxElapsed budget and a deadline: the
// time arithmetic does not overflow.
func TestHugeDelaysStopAtTheBudget(t *testing.T) {
	p, _, _ := newPolicy(t, retry.Config{Delay: math.MaxInt64 / 2, MaxDelay: math.MaxInt64, MaxElapsed: time.Hour, NoBudget: true})
	fn, calls := failing(10, errFlaky)
	err := p.Do(context.Background(), fn)
	if !errors.Is(err, retry.ErrMaxElapsed) || *calls != 1 {
		t.Fatalf("err %v after %d calls; want ErrMaxElapsed after 1", err, *calls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	p, _, _ = newPolicy(t, retry.Config{Delay: math.MaxInt64 / 2, MaxDelay: math.MaxInt64, NoBudget: true})
	fn, calls = failing(10, errFlaky)
	if err := p.Do(ctx, fn); !errors.Is(err, context.DeadlineExceeded) || *calls != 1 {
		t.Fatalf("err %v after %d calls; want DeadlineExceeded after 1", err, *calls)
	}
}

// An integration's own classification is not overridden by the policy's
// lists: an error marked Retryable is retried whatever they say.
func TestRetryableOverridesThePolicysLists(t *testing.T) {
	other := errors.New("other")
	p, _, _ := newPolicy(t, retry.Config{RetryOn: []error{other}, DoNotRetryOn: []error{errFlaky}, NoBudget: true, Backoff: func(int, error) time.Duration { return 0 }})
	fn, calls := failing(2, outcome.Retryable(errFlaky))
	if err := p.Do(context.Background(), fn); err != nil || *calls != 3 {
		t.Fatalf("err %v after %d calls; want success on the third", err, *calls)
	}
	// Permanent still wins, and the mark does not reach the caller.
	fn, calls = failing(2, outcome.Retryable(outcome.Permanent(errFlaky)))
	if err := p.Do(context.Background(), fn); !errors.Is(err, errFlaky) || *calls != 1 {
		t.Fatalf("err %v after %d calls; want the permanent error after 1", err, *calls)
	}
	p, _, _ = newPolicy(t, retry.Config{MaxAttempts: 2, NoBudget: true, Backoff: func(int, error) time.Duration { return 0 }})
	fn, _ = failing(5, outcome.Retryable(errFlaky))
	var re *retry.Error
	if err := p.Do(context.Background(), fn); !errors.As(err, &re) || re.Err != errFlaky {
		t.Fatalf("err %v: want a retry.Error whose Err is the unmarked error", err)
	}
}

// A gate that will still reject at the end of the delay stops the retries
// at once, with the rejection as the cause; one that opens within the delay
// lets the policy wait as usual.
func TestGateStopsRetriesThatWouldBeRejected(t *testing.T) {
	errShut := errors.New("shut")
	tests := []struct {
		name      string
		wait      time.Duration
		rejection error
		calls     int
		cause     error
	}{
		{"open now", 0, nil, 4, retry.ErrExhausted},
		{"opens within the delay", 500 * time.Millisecond, errShut, 4, retry.ErrExhausted},
		{"opens after the delay", 30 * time.Second, errShut, 1, errShut},
		{"no known time", 0, errShut, 1, errShut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, clk, delays := newPolicy(t, retry.Config{NoBudget: true})
			fn, calls := failing(10, errFlaky)
			var err error
			done := make(chan struct{})
			gate := func() (time.Duration, error) { return tt.wait, tt.rejection }
			go func() {
				defer close(done)
				_, err = retry.ExecuteWith(context.Background(), p, retry.Options[int]{Gate: gate}, func(ctx context.Context) (int, error) { return 0, fn(ctx) })
			}()
			clk.Drive(func() { <-done })
			var re *retry.Error
			if !errors.As(err, &re) || !errors.Is(re.Cause, tt.cause) || *calls != tt.calls {
				t.Fatalf("err %v after %d calls; want cause %v after %d", err, *calls, tt.cause, tt.calls)
			}
			if !errors.Is(err, errFlaky) {
				t.Fatalf("the last attempt's error is lost: %v", err)
			}
			if tt.calls == 1 && len(*delays) != 0 {
				t.Fatalf("slept %v before an attempt the gate would reject", *delays)
			}
		})
	}
}
