package admission_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/breakwater-go/breakwater/admission"
	"github.com/breakwater-go/breakwater/outcome"
)

// serve runs n requests at a time through c, each taking d, until
// rounds rounds are done.
func serve(t *testing.T, c *admission.Controller, n, rounds int, d time.Duration) {
	t.Helper()
	for range rounds {
		var permits []outcome.Permit
		for range n {
			p, err := c.Admit(context.Background(), admission.Default)
			if err != nil {
				t.Fatal(err)
			}
			permits = append(permits, p)
		}
		time.Sleep(d)
		for _, p := range permits {
			p.Done(nil)
		}
	}
}

// The limit starts pinned to MinConcurrency while minRTT is measured over
// MinRTTRequests requests; then it grows while latency stays near minRTT,
// but no further than twice the requests the load has put in flight; it
// shrinks when latency rises; staying near Min for 20 updates measures minRTT
// again.
func TestLimitFollowsLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := admission.New(admission.Config{Limit: admission.LimitConfig{MinRTTRequests: 9, Rand: func() float64 { return 0 }}})
		if err != nil {
			t.Fatal(err)
		}
		if m := c.Metrics(); m.Limit != 3 || !m.Measuring {
			t.Fatalf("at the start: %+v", m)
		}
		serve(t, c, 3, 3, 10*time.Millisecond)
		if m := c.Metrics(); m.Measuring || m.MinRTT != 10*time.Millisecond {
			t.Fatalf("after 9 requests of 10 ms: %+v", m)
		}
		serve(t, c, 3, 40, 10*time.Millisecond) // 400 ms: four updates
		if m := c.Metrics(); m.Limit != 6 {
			t.Fatalf("3 in flight at minRTT: limit %d, want 6 (twice what the load showed)", m.Limit)
		}
		serve(t, c, 6, 100, 10*time.Millisecond)
		grown := c.Metrics().Limit
		if grown != 12 {
			t.Fatalf("6 in flight at minRTT: limit %d, want 12", grown)
		}
		serve(t, c, 3, 3, 40*time.Millisecond) // latency four times minRTT: one update
		if m := c.Metrics(); m.Limit >= grown {
			t.Fatalf("at four times minRTT the limit stayed at %d", m.Limit)
		}
		serve(t, c, 3, 80, 40*time.Millisecond) // down near Min, 20 updates there, and 9 requests measured
		if m := c.Metrics(); m.Measuring || m.MinRTT != 40*time.Millisecond {
			t.Fatalf("after sitting at Min, minRTT was not measured again: %+v", m)
		}
	})
}

// Every MinRTTInterval (plus jitter), minRTT is measured again if the
// limit has since held requests back with latency past the buffer: the
// measurement may have something to correct. A limit that never bound has
// nothing to correct, and pinning it would only shed.
func TestMinRTTIsMeasuredEveryIntervalIfTheLimitBound(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bound bool
	}{{"the limit bound", true}, {"the limit never bound", false}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, err := admission.New(admission.Config{Limit: admission.LimitConfig{MinRTTRequests: 30, MinRTTInterval: time.Second,
					Rand: func() float64 { return 0.5 }}})
				if err != nil {
					t.Fatal(err)
				}
				serve(t, c, 3, 10, 10*time.Millisecond) // measured at 100 ms: the limit is 3
				if tc.bound {
					serve(t, c, 3, 11, 15*time.Millisecond) // 3 in flight at 1.5 × minRTT: queueing at the limit
				} else {
					serve(t, c, 1, 11, 10*time.Millisecond)
				}
				serve(t, c, 1, 85, 10*time.Millisecond)
				if c.Metrics().Measuring {
					t.Fatal("measuring before the interval and its jitter (7.5 %) are up")
				}
				serve(t, c, 1, 12, 10*time.Millisecond) // the first update past 1.175 s
				if got := c.Metrics().Measuring; got != tc.bound {
					t.Fatalf("measuring 1.2 s after the last measurement: %v, want %v", got, tc.bound)
				}
			})
		})
	}
}

// Critical requests are admitted up to 1.5 times the limit found from
// latency: a limit that has just fallen, or is pinned, does not hold them
// back. (A fixed limit is the limit for all.)
func TestCriticalRequestsHaveHeadroom(t *testing.T) {
	ctx := context.Background()
	c, err := admission.New(admission.Config{Limit: admission.LimitConfig{Min: 4, MinConcurrency: 4, MinRTTRequests: 4}})
	if err != nil {
		t.Fatal(err)
	}
	measure := make([]outcome.Permit, 4) // minRTT measured: the limit is 4
	for i := range measure {
		measure[i], _ = c.Admit(ctx, admission.Default)
	}
	for _, p := range measure {
		p.Done(nil)
	}
	if m := c.Metrics(); m.Limit != 4 || m.Measuring {
		t.Fatalf("%+v", m)
	}
	var held []outcome.Permit
	for range 4 {
		p, err := c.Admit(ctx, admission.Default)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, p)
	}
	for range 2 {
		p, err := c.Admit(ctx, admission.Critical)
		if err != nil {
			t.Fatalf("a critical request under 1.5 times the limit: %v", err)
		}
		held = append(held, p)
	}
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	if _, err := c.Admit(short, admission.Critical); err == nil {
		t.Fatal("a critical request past 1.5 times the limit was admitted")
	}
	for _, p := range held {
		p.Done(nil)
	}
}
