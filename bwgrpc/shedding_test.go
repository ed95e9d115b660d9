package bwgrpc_test

import (
	"context"
	"errors"
	"testing"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwgrpc"
	"github.com/breakwater-go/breakwater/throttle"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// A per-target throttle refuses unary calls locally once the server
// refuses them: the call fails with ResourceExhausted matching
// throttle.ErrThrottled, the server sees no more of them, and the
// breaker counts the local refusals as nothing.
func TestPerTargetThrottle(t *testing.T) {
	script := make([]reply, 20)
	for i := range script {
		script[i] = reply{code: codes.ResourceExhausted}
	}
	h := &flakyHealth{script: script}
	throttles, err := throttle.NewRegistry(throttle.Config{Rand: func() float64 { return 0.5 }}, 0)
	if err != nil {
		t.Fatal(err)
	}
	breakers, err := breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(100)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ic, err := bwgrpc.New(bwgrpc.Config{NoRetry: true, Breakers: breakers, Shedding: breakwater.Shedding{Throttles: throttles}})
	if err != nil {
		t.Fatal(err)
	}
	c := start(t, h, ic)
	var throttled int
	for range 10 {
		_, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{})
		switch {
		case errors.Is(err, throttle.ErrThrottled):
			if status.Code(err) != codes.ResourceExhausted {
				t.Errorf("a throttled call has code %v, want ResourceExhausted", status.Code(err))
			}
			throttled++
		case status.Code(err) != codes.ResourceExhausted:
			t.Fatalf("err = %v", err)
		}
	}
	if checks, _ := h.calls(); checks != 2 || throttled != 8 {
		t.Errorf("the server got %d calls, %d throttled; want 2 and 8", checks, throttled)
	}
	b := breakers.All()[0]
	if m := b.Metrics(); m.Failures != 2 || m.Ignored != 8 {
		t.Errorf("breaker saw %d failures, %d ignored; want 2 and 8", m.Failures, m.Ignored)
	}
}
