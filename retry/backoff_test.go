package retry

import (
	"errors"
	"testing"
	"time"
)

// constRand returns u every time.
func constRand(u float64) func() float64 { return func() float64 { return u } }

func TestBackoffSequences(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name string
		cfg  Config
		want []time.Duration // delays before retries 1, 2, 3, ...
	}{
		{"exponential, no jitter, capped", Config{Jitter: JitterNone, MaxDelay: 5 * s}, []time.Duration{s, 2 * s, 4 * s, 5 * s, 5 * s}},
		{"constant", Config{Jitter: JitterNone, Multiplier: 1, Delay: 3 * s}, []time.Duration{3 * s, 3 * s, 3 * s}},
		{"multiplier 1.5", Config{Jitter: JitterNone, Delay: 2 * s, Multiplier: 1.5}, []time.Duration{2 * s, 3 * s, 4500 * time.Millisecond}},
		{"proportional, low end", Config{Rand: constRand(0)}, []time.Duration{800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond}},
		{"proportional, middle", Config{Rand: constRand(0.5)}, []time.Duration{s, 2 * s, 4 * s}},
		{"proportional 50%, low end", Config{JitterFactor: 0.5, Rand: constRand(0)}, []time.Duration{s / 2, s, 2 * s}},
		{"proportional never exceeds the cap", Config{MaxDelay: 2 * s, Rand: constRand(0.99)}, []time.Duration{1196 * time.Millisecond, 2 * s, 2 * s}},
		{"full", Config{Jitter: JitterFull, Rand: constRand(0.5), MaxDelay: 5 * s}, []time.Duration{s / 2, s, 2 * s, 2500 * time.Millisecond}},
		{"full, zero draw", Config{Jitter: JitterFull, Rand: constRand(0)}, []time.Duration{0, 0, 0}},
		{"equal", Config{Jitter: JitterEqual, Rand: constRand(0.5), MaxDelay: 5 * s}, []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * s, 3750 * time.Millisecond}},
		// U(1s, 3×prev): prev 1s → 2s; prev 2s → U(1s, 6s) = 3.5s; prev 3.5s → U(1s, 10.5s) = 5.75s.
		{"decorrelated", Config{Jitter: JitterDecorrelated, Rand: constRand(0.5), MaxDelay: 20 * s}, []time.Duration{2 * s, 3500 * time.Millisecond, 5750 * time.Millisecond}},
		// The cap bounds the range: prev 2s → U(1s, min(6s, 5s)) = 3s.
		{"decorrelated, capped", Config{Jitter: JitterDecorrelated, Rand: constRand(0.5), MaxDelay: 5 * s}, []time.Duration{2 * s, 3 * s, 3 * s}},
		{"decorrelated, top draw", Config{Jitter: JitterDecorrelated, Rand: constRand(1), MaxDelay: 20 * s}, []time.Duration{3 * s, 9 * s, 20 * s}},
		// U(Delay, MaxDelay) every time, whatever the retry's number.
		{"random between bounds", Config{Jitter: JitterRandom, Delay: 2 * s, MaxDelay: 4 * s, Rand: constRand(0.25)}, []time.Duration{2500 * time.Millisecond, 2500 * time.Millisecond, 2500 * time.Millisecond}},
		{"random, top draw", Config{Jitter: JitterRandom, Delay: s, MaxDelay: 3 * s, Rand: constRand(1)}, []time.Duration{3 * s, 3 * s}},
		// d ± 500ms: the low end of 1s, 2s, 4s.
		{"absolute jitter, low end", Config{JitterDuration: s / 2, Rand: constRand(0)}, []time.Duration{s / 2, 1500 * time.Millisecond, 3500 * time.Millisecond}},
		{"absolute jitter, high end", Config{JitterDuration: s / 2, Rand: constRand(1)}, []time.Duration{1500 * time.Millisecond, 2500 * time.Millisecond, 4500 * time.Millisecond}},
		{"absolute jitter never below zero", Config{Delay: s, Multiplier: 1, JitterDuration: 5 * s, Rand: constRand(0)}, []time.Duration{0, 0}},
		{"custom backoff, capped", Config{MaxDelay: 10 * s, Backoff: func(n int, _ error) time.Duration { return time.Duration(n*n) * s }}, []time.Duration{s, 4 * s, 9 * s, 10 * s}},
		{"custom backoff, negative is zero", Config{Backoff: func(int, error) time.Duration { return -s }}, []time.Duration{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := tt.cfg.settings()
			if err != nil {
				t.Fatal(err)
			}
			var prev time.Duration
			for i, want := range tt.want {
				got := st.backoff(i+1, prev, errors.New("x"))
				if got != want {
					t.Fatalf("retry %d: delay %v, want %v (all: %v)", i+1, got, want, tt.want)
				}
				prev = got
			}
		})
	}
}

func TestJitterStaysInRange(t *testing.T) {
	for _, j := range []Jitter{JitterProportional, JitterFull, JitterEqual, JitterDecorrelated} {
		st, _ := Config{Jitter: j, MaxDelay: 8 * time.Second}.settings()
		var prev time.Duration
		for n := 1; n <= 1000; n++ {
			d := st.backoff(min(n, 5), prev, nil)
			if d < 0 || d > 8*time.Second {
				t.Fatalf("%v: delay %v out of [0, 8s]", j, d)
			}
			prev = d
		}
	}
}
