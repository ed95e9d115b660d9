package hedge

import (
	"testing"
	"time"
)

// A policy that takes over from another keeps its latest latencies (as
// many as it keeps) and computes its quantile from them at once.
func TestInheritKeepsTheLatencies(t *testing.T) {
	prev, err := New(Config{Quantile: 0.5, Samples: 20, MinSamples: 10, Delay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 30; i++ { // the record keeps 11..30 ms
		prev.record(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		cfg  Config
		want time.Duration
	}{
		{Config{Quantile: 0.9, Samples: 20, MinSamples: 10, Delay: time.Second}, 28 * time.Millisecond},
		{Config{Quantile: 0.5, Samples: 10, MinSamples: 5, Delay: time.Second}, 25 * time.Millisecond}, // the latest 10: 21..30 ms
		{Config{Quantile: 0.5, Samples: 100, MinSamples: 50, Delay: time.Second}, time.Second},         // too few for its MinSamples
		{Config{Delay: 3 * time.Second}, 3 * time.Second},                                              // a fixed delay
	} {
		p, err := New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		p.Inherit(prev)
		if got := p.delayFor(1); got != tc.want {
			t.Errorf("%+v: delay %v, want %v", tc.cfg, got, tc.want)
		}
	}
}
