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
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/hedge"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// tailHealth is a real health service whose n-th Check (from 0) does what
// answer says; an answer of nil blocks until the call is cancelled.
type tailHealth struct {
	healthpb.UnimplementedHealthServer
	answers   []*reply
	mu        sync.Mutex
	calls     int
	arrived   chan int
	cancelled chan int
}

func (h *tailHealth) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.mu.Lock()
	n := h.calls
	h.calls++
	h.mu.Unlock()
	h.arrived <- n
	if n >= len(h.answers) || h.answers[n] == nil {
		<-ctx.Done()
		h.cancelled <- n
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if c := h.answers[n].code; c != codes.OK {
		return nil, status.Error(c, "scripted "+c.String())
	}
	// Which attempt answered shows in the reply: NOT_SERVING for the first.
	s := healthpb.HealthCheckResponse_SERVING
	if n == 0 {
		s = healthpb.HealthCheckResponse_NOT_SERVING
	}
	return &healthpb.HealthCheckResponse{Status: s}, nil
}

func (h *tailHealth) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

func serveTail(t *testing.T, h *tailHealth, ic *bwgrpc.Interceptor) healthpb.HealthClient {
	t.Helper()
	h.cancelled, h.arrived = make(chan int, 10), make(chan int, 10)
	return start(t, h, ic)
}

func hedging(t *testing.T, cfg hedge.Config, bc breaker.Config) (*bwgrpc.Interceptor, *hedge.Policy, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.NewFake(time.Unix(0, 0))
	cfg.Clock = clk
	p, err := hedge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bc.Clock = clk
	breakers, err := breaker.NewRegistry(bc, 0)
	if err != nil {
		t.Fatal(err)
	}
	ic, err := bwgrpc.New(bwgrpc.Config{Hedge: p, Breakers: breakers})
	if err != nil {
		t.Fatal(err)
	}
	return ic, p, clk
}

// A unary call with no answer after the delay is hedged on a real
// server: the hedge's reply is the caller's, the first attempt is
// cancelled on the server, and the breaker counts the cancelled attempt
// as nothing.
func TestUnaryHedgeWins(t *testing.T) {
	ic, p, clk := hedging(t, hedge.Config{Delay: 50 * time.Millisecond}, breaker.Config{})
	h := &tailHealth{answers: []*reply{nil, {code: codes.OK}}}
	c := serveTail(t, h, ic)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		resp *healthpb.HealthCheckResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
		done <- result{resp, err}
	}()
	<-h.arrived // the first attempt is on the server: the next to arrive is the hedge
	if err := clk.WaitForTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(50 * time.Millisecond)
	r := <-done
	if r.err != nil || r.resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("got %v, %v; want the hedge's SERVING", r.resp, r.err)
	}
	select {
	case n := <-h.cancelled:
		if n != 0 {
			t.Errorf("call %d cancelled, want the first", n)
		}
	case <-ctx.Done():
		t.Fatal("the losing attempt was never cancelled on the server")
	}
	if m := p.Metrics(); m.Hedges != 1 || m.Won != 1 || m.Cancelled != 1 {
		t.Errorf("hedge metrics %+v", m)
	}
	b := ic.Breakers().All()[0]
	waitFor(t, func() bool { m := b.Metrics(); return m.Successes == 1 && m.Ignored == 1 && m.Failures == 0 })
}

// A retried code (Unavailable) starts the next hedge at once; a code that
// is not retried ends the call without a hedge; an open circuit stops
// hedging.
func TestUnaryHedgeByCode(t *testing.T) {
	cases := []struct {
		name      string
		first     codes.Code
		bc        breaker.Config
		wantCode  codes.Code
		wantCalls int
	}{
		{"retried code hedges at once", codes.Unavailable, breaker.Config{}, codes.OK, 2},
		{"other code stops", codes.PermissionDenied, breaker.Config{}, codes.PermissionDenied, 1},
		{"open circuit stops", codes.Unavailable, breaker.Config{Trip: breaker.Consecutive(1)}, codes.Unavailable, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ic, p, _ := hedging(t, hedge.Config{Delay: time.Hour}, tc.bc) // the clock never moves: no timed hedge
			h := &tailHealth{answers: []*reply{{code: tc.first}, {code: codes.OK}}}
			c := serveTail(t, h, ic)
			_, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{})
			if status.Code(err) != tc.wantCode || h.count() != tc.wantCalls {
				t.Errorf("code %v after %d calls, want %v after %d (err %v, %+v)", status.Code(err), h.count(), tc.wantCode, tc.wantCalls, err, p.Metrics())
			}
		})
	}
}

// Only the methods Hedged chooses are hedged; Hedged needs Hedge.
func TestHedgedMethods(t *testing.T) {
	p, _ := hedge.New(hedge.Config{Delay: time.Hour})
	ic, err := bwgrpc.New(bwgrpc.Config{Hedge: p, NoRetry: true, Hedged: func(m string) bool { return m == "/other.Service/Get" }})
	if err != nil {
		t.Fatal(err)
	}
	h := &tailHealth{answers: []*reply{{code: codes.Unavailable}, {code: codes.OK}}}
	c := serveTail(t, h, ic)
	if _, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable || h.count() != 1 {
		t.Errorf("a method not chosen was hedged: %v after %d calls", err, h.count())
	}
	_, err = bwgrpc.New(bwgrpc.Config{Hedged: func(string) bool { return true }})
	if !errors.Is(err, config.ErrInvalid) {
		t.Errorf("Hedged without Hedge: err = %v", err)
	}
}

// waitFor polls cond: the breaker hears of a cancelled attempt when the
// hedge has drained it, after the call returned.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
