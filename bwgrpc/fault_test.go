package bwgrpc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwgrpc"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/retry"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpc-go may pass a connection's shared default call options through
// unchanged: the interceptor must not append to the caller's slice.
func TestUnaryDoesNotWriteIntoTheCallersOptions(t *testing.T) {
	ic, err := bwgrpc.New(bwgrpc.Config{NoRetry: true, Key: func(string, *grpc.ClientConn) string { return "k" }})
	if err != nil {
		t.Fatal(err)
	}
	shared := make([]grpc.CallOption, 1, 8) // spare capacity, as a shared slice may have
	shared[0] = grpc.WaitForReady(false)
	invoker := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		return nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = ic.Unary(context.Background(), "/m", nil, nil, nil, invoker, shared...)
		}()
	}
	wg.Wait()
	if spare := shared[1:cap(shared)]; spare[0] != nil {
		t.Fatal("the interceptor wrote into the caller's options slice")
	}
}

// A stream abandoned by a cancelled context, without a final RecvMsg, must
// give its half-open probe slot back.
func TestAbandonedStreamFreesItsProbeSlot(t *testing.T) {
	released := make(chan struct{}, 1)
	f := newFixture(t, breaker.Config{Trip: breaker.Consecutive(1), OpenDuration: time.Second,
		Hooks: breaker.Hooks{OnIgnore: func(context.Context, breaker.CallEvent) { released <- struct{}{} }}}, retry.Config{})
	c := start(t, &flakyHealth{}, f.ic)
	// Open the connection's circuit, then let it go half-open.
	if err := f.check(c, context.Background()); err != nil {
		t.Fatal(err)
	}
	b := f.reg.All()[0]
	b.Trip()
	f.clk.Advance(time.Second)
	if b.State() != breaker.HalfOpen {
		t.Fatalf("state %v", b.State())
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := c.Watch(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	cancel() // abandoned: no RecvMsg
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatal("the abandoned stream's outcome never reached the breaker")
	}
	// The hook runs before the outcome frees the slot (call hooks come
	// before the state change they cause), and nothing but a probe shows
	// the slot free (Gate says yes to any half-open circuit): probe until
	// one is let through. Turned-away probes take no slot.
	var s healthpb.Health_WatchClient
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for s, err = c.Watch(context.Background(), &healthpb.HealthCheckRequest{}); err != nil; s, err = c.Watch(context.Background(), &healthpb.HealthCheckRequest{}) {
		if !errors.Is(err, breaker.ErrOpen) || time.Now().After(deadline) {
			t.Fatalf("the abandoned stream still holds the probe slot: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("probe stream: %v", err)
	}
	if m := b.Metrics(); m.Ignored != 1 {
		t.Fatalf("the abandoned stream should count as ignored: %+v", m)
	}
}

// An invoker that panics (another interceptor, a codec) does not keep the
// half-open probe slot: the attempt counts as failed and reopens the
// circuit, whose next probe then goes through.
func TestPanickingInvokerFreesItsProbeSlot(t *testing.T) {
	clk := clocktest.NewFake(time.Time{})
	reg, _ := breaker.NewRegistry(breaker.Config{OpenDuration: time.Second, Clock: clk}, 0)
	ic, err := bwgrpc.New(bwgrpc.Config{Breakers: reg, NoRetry: true, Key: func(string, *grpc.ClientConn) string { return "k" }})
	if err != nil {
		t.Fatal(err)
	}
	b := reg.Get("k")
	b.Trip()
	clk.Advance(time.Second)
	panicking := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { panic("codec") }
	func() {
		defer func() { recover() }()
		_ = ic.Unary(context.Background(), "/m", nil, nil, nil, panicking)
	}()
	if m := b.Metrics(); m.Failures != 1 || b.State() != breaker.Open {
		t.Fatalf("a panicking probe should count as failed and reopen: %+v", m)
	}
	clk.Advance(time.Second)
	ok := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	if err := ic.Unary(context.Background(), "/m", nil, nil, nil, ok); err != nil || b.State() != breaker.Closed {
		t.Fatalf("next probe: %v, state %v", err, b.State())
	}
}
