package bwgrpc_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwgrpc"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// attempts is a real health service whose n-th Check (from 0) runs
// answer(n, ctx); each attempt's number is sent in its header and trailer.
type attempts struct {
	healthpb.UnimplementedHealthServer
	answer func(n int, ctx context.Context) error

	mu       sync.Mutex
	arrivals []time.Time
	ended    []error // each attempt's end, as the server saw it
}

func (a *attempts) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	a.mu.Lock()
	n := len(a.arrivals)
	a.arrivals = append(a.arrivals, time.Now())
	a.mu.Unlock()
	grpc.SetHeader(ctx, metadata.Pairs("attempt", strconv.Itoa(n)))
	grpc.SetTrailer(ctx, metadata.Pairs("attempt-trailer", strconv.Itoa(n)))
	err := a.answer(n, ctx)
	a.mu.Lock()
	a.ended = append(a.ended, err)
	a.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (a *attempts) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.arrivals)
}

// hangs waits for the attempt's context to end.
func hangs(ctx context.Context) error {
	<-ctx.Done()
	return status.FromContextError(ctx.Err()).Err()
}

func hedgingInterceptor(t *testing.T, cfg hedge.Config) *bwgrpc.Interceptor {
	t.Helper()
	p, err := hedge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ic, err := bwgrpc.New(bwgrpc.Config{Hedge: p})
	if err != nil {
		t.Fatal(err)
	}
	return ic
}

// Only the attempt whose answer is returned fills the caller's header,
// trailer and peer, and OnFinish runs once, with the call's outcome.
// (Before, every attempt was given the caller's options: the losing
// attempt wrote the header last, after the call returned, and OnFinish
// ran twice, OK then Canceled.)
func TestHedgedCallFillsTheCallersOptionsFromTheWinner(t *testing.T) {
	ic := hedgingInterceptor(t, hedge.Config{Delay: 20 * time.Millisecond})
	srv := &attempts{answer: func(n int, ctx context.Context) error {
		if n == 0 {
			return hangs(ctx) // the first attempt loses
		}
		return nil
	}}
	c := start(t, srv, ic)
	var header, trailer metadata.MD
	var mu sync.Mutex
	var finished []error
	_, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{},
		grpc.Header(&header), grpc.Trailer(&trailer),
		grpc.OnFinish(func(err error) { mu.Lock(); finished = append(finished, err); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if got := header.Get("attempt"); len(got) != 1 || got[0] != "1" {
			t.Errorf("%s: header %v, want the winner's attempt 1", when, got)
		}
		if got := trailer.Get("attempt-trailer"); len(got) != 1 || got[0] != "1" {
			t.Errorf("%s: trailer %v, want the winner's", when, got)
		}
		if len(finished) != 1 || finished[0] != nil {
			t.Errorf("%s: OnFinish ran with %v, want once with nil", when, finished)
		}
	}
	check("on return")
	waitFor(t, func() bool { srv.mu.Lock(); defer srv.mu.Unlock(); return len(srv.ended) == 2 })
	time.Sleep(20 * time.Millisecond) // what the loser's client side would still write
	check("after the loser ended")
}

// A hedge answered with a "do not retry" pushback stops further hedges
// (gRFC A6) and ends nothing: the first attempt, about to succeed, goes on
// and answers. (Before, the call ended with Unavailable after 31 ms and
// the first attempt was cancelled on the server.)
func TestNegativePushbackStopsHedgingOnly(t *testing.T) {
	ic := hedgingInterceptor(t, hedge.Config{Delay: 20 * time.Millisecond, MaxHedges: 3})
	srv := &attempts{answer: func(n int, ctx context.Context) error {
		if n == 0 {
			time.Sleep(150 * time.Millisecond)
			return nil
		}
		grpc.SetTrailer(ctx, metadata.Pairs("grpc-retry-pushback-ms", "-1"))
		return status.Error(codes.Unavailable, "overloaded")
	}}
	c := start(t, srv, ic)
	start := time.Now()
	if _, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("after %v: %v; want the first attempt's answer", time.Since(start), err)
	}
	if n := srv.count(); n != 2 {
		t.Errorf("%d attempts, want 2: no hedge after the pushback", n)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, err := range srv.ended {
		if status.Code(err) == codes.Canceled {
			t.Errorf("an attempt was cancelled on the server: %v", srv.ended)
		}
	}
}

// A positive pushback on a hedge holds the next hedge back by that much.
// (Before, the next hedge went 0.4–2.7 ms after a 400-ms pushback.)
func TestPositivePushbackDelaysTheNextHedge(t *testing.T) {
	ic := hedgingInterceptor(t, hedge.Config{Delay: 20 * time.Millisecond, MaxHedges: 2})
	srv := &attempts{answer: func(n int, ctx context.Context) error {
		switch n {
		case 0:
			return hangs(ctx)
		case 1:
			grpc.SetTrailer(ctx, metadata.Pairs("grpc-retry-pushback-ms", "400"))
			return status.Error(codes.Unavailable, "busy")
		}
		return nil
	}}
	c := start(t, srv, ic)
	if _, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.arrivals) != 3 {
		t.Fatalf("%d attempts, want 3", len(srv.arrivals))
	}
	if gap := srv.arrivals[2].Sub(srv.arrivals[1]); gap < 400*time.Millisecond {
		t.Errorf("the hedge after a 400-ms pushback came %v later", gap)
	}
}

// A retry waits what the server's pushback asked, past the policy's own
// MaxDelay (gRFC A6). (Before, a 600-ms pushback was cut to a 50-ms
// MaxDelay.)
func TestRetryWaitsThePushback(t *testing.T) {
	f := newFixture(t, breaker.Config{Trip: breaker.Consecutive(10)}, retry.Config{Delay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond})
	h := &flakyHealth{script: []reply{{code: codes.Unavailable, pushback: "600"}}}
	if err := f.check(start(t, h, f.ic), context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(*f.delays) != 1 || (*f.delays)[0] != 600*time.Millisecond {
		t.Fatalf("delays %v, want the server's 600ms", *f.delays)
	}
}

// A request that never left the client (it cannot be marshalled, or is
// over the size the call may send) is not the server's failure: it opens
// no circuit and is not retried. (Before, three requests with invalid
// UTF-8 opened the circuit for every caller, and an oversized one was
// retried three times.)
func TestLocalErrorsAreNotTheServersFailures(t *testing.T) {
	f := newFixture(t, breaker.Config{Trip: breaker.Consecutive(3)}, retry.Config{})
	srv := &attempts{answer: func(int, context.Context) error { return nil }}
	c := start(t, srv, f.ic)
	for range 5 {
		var err error
		f.clk.Drive(func() { _, err = c.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "\xff"}) })
		if status.Code(err) != codes.Internal {
			t.Fatalf("invalid UTF-8: %v, want Internal", err)
		}
		f.clk.Drive(func() {
			_, err = c.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "a long service name"}, grpc.MaxCallSendMsgSize(4))
		})
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("oversized: %v, want ResourceExhausted", err)
		}
	}
	if n := srv.count(); n != 0 {
		t.Fatalf("the server saw %d requests", n)
	}
	if len(*f.delays) != 0 {
		t.Errorf("local errors were retried: delays %v", *f.delays)
	}
	if err := f.check(c, context.Background()); err != nil || errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("a valid call after 10 local errors: %v", err)
	}
}
