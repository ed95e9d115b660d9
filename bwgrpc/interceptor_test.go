package bwgrpc_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwgrpc"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/registry"
	"github.com/breakwater-go/breakwater/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// reply is what the flaky health server does for one call.
type reply struct {
	code     codes.Code
	pushback string // grpc-retry-pushback-ms trailer, if set
}

// flakyHealth is a real gRPC health service that answers from a script,
// then SERVING.
type flakyHealth struct {
	healthpb.UnimplementedHealthServer
	mu      sync.Mutex
	script  []reply
	checks  int
	watches int
	// previous records each Check's grpc-previous-rpc-attempts ("" when
	// absent).
	previous []string
}

func (h *flakyHealth) next() reply {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.script) == 0 {
		return reply{code: codes.OK}
	}
	r := h.script[0]
	h.script = h.script[1:]
	return r
}

func (h *flakyHealth) calls() (checks, watches int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.checks, h.watches
}

func (h *flakyHealth) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	h.mu.Lock()
	h.checks++
	h.previous = append(h.previous, strings.Join(md.Get("grpc-previous-rpc-attempts"), ","))
	h.mu.Unlock()
	r := h.next()
	if r.pushback != "" {
		grpc.SetTrailer(ctx, metadata.Pairs("grpc-retry-pushback-ms", r.pushback))
	}
	if r.code != codes.OK {
		return nil, status.Error(r.code, "scripted "+r.code.String())
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (h *flakyHealth) Watch(_ *healthpb.HealthCheckRequest, s grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	h.mu.Lock()
	h.watches++
	h.mu.Unlock()
	if r := h.next(); r.code != codes.OK {
		return status.Error(r.code, "scripted "+r.code.String())
	}
	return s.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
}

// start serves h on 127.0.0.1 and returns a client connection to it that
// goes through ic.
func start(t *testing.T, h healthpb.HealthServer, ic *bwgrpc.Interceptor) healthpb.HealthClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, h)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(ic.Unary), grpc.WithStreamInterceptor(ic.Stream))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

type fixture struct {
	clk    *clocktest.Fake
	delays *[]time.Duration
	reg    *registry.Registry[*breaker.Breaker]
	ic     *bwgrpc.Interceptor
}

func newFixture(t *testing.T, bc breaker.Config, rc retry.Config) fixture {
	t.Helper()
	clk := clocktest.NewFake(time.Now())
	delays := new([]time.Duration)
	var mu sync.Mutex
	rc.Clock, rc.Jitter, rc.NoBudget = clk, retry.JitterNone, true
	rc.Hooks.OnRetry = func(_ context.Context, e retry.RetryEvent) {
		mu.Lock()
		*delays = append(*delays, e.Delay)
		mu.Unlock()
	}
	p, err := retry.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	bc.Clock = clk
	reg, err := breaker.NewRegistry(bc, 0)
	if err != nil {
		t.Fatal(err)
	}
	ic, err := bwgrpc.New(bwgrpc.Config{Breakers: reg, Retry: p})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{clk, delays, reg, ic}
}

func (f fixture) check(c healthpb.HealthClient, ctx context.Context) error {
	var err error
	f.clk.Drive(func() { _, err = c.Check(ctx, &healthpb.HealthCheckRequest{}) })
	return err
}

func TestUnaryRetriesUntilServing(t *testing.T) {
	f := newFixture(t, breaker.Config{Trip: breaker.Consecutive(5)}, retry.Config{})
	h := &flakyHealth{script: []reply{{code: codes.Unavailable}, {code: codes.ResourceExhausted}}}
	c := start(t, h, f.ic)
	if err := f.check(c, context.Background()); err != nil {
		t.Fatal(err)
	}
	if checks, _ := h.calls(); checks != 3 || len(*f.delays) != 2 {
		t.Fatalf("%d calls, delays %v", checks, *f.delays)
	}
}

// Each retry tells the server how many attempts came before it (gRFC A6).
func TestRetriesSendPreviousAttempts(t *testing.T) {
	f := newFixture(t, breaker.Config{Trip: breaker.Consecutive(5)}, retry.Config{})
	h := &flakyHealth{script: []reply{{code: codes.Unavailable}, {code: codes.Unavailable}}}
	c := start(t, h, f.ic)
	if err := f.check(c, context.Background()); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if got := strings.Join(h.previous, " "); got != " 1 2" {
		t.Fatalf("grpc-previous-rpc-attempts per attempt: %q, want \"\", \"1\", \"2\"", h.previous)
	}
}

func TestUnaryDoesNotRetryOtherCodes(t *testing.T) {
	f := newFixture(t, breaker.Config{Trip: breaker.Consecutive(1)}, retry.Config{})
	h := &flakyHealth{script: []reply{{code: codes.InvalidArgument}, {code: codes.NotFound}}}
	c := start(t, h, f.ic)
	for _, want := range []codes.Code{codes.InvalidArgument, codes.NotFound} {
		if err := f.check(c, context.Background()); status.Code(err) != want {
			t.Fatalf("err %v, want %v", err, want)
		}
	}
	if checks, _ := h.calls(); checks != 2 {
		t.Fatalf("%d calls, want 2", checks)
	}
	for _, b := range f.reg.All() {
		if b.State() != breaker.Closed {
			t.Fatal("the caller's errors opened the circuit")
		}
	}
}

func TestUnaryExhaustedKeepsTheLastCode(t *testing.T) {
	f := newFixture(t, breaker.Config{Trip: breaker.Consecutive(10)}, retry.Config{MaxAttempts: 3})
	h := &flakyHealth{script: []reply{{code: codes.Unavailable}, {code: codes.Unavailable}, {code: codes.Unavailable}}}
	err := f.check(start(t, h, f.ic), context.Background())
	if status.Code(err) != codes.Unavailable || !errors.Is(err, retry.ErrExhausted) {
		t.Fatalf("err %v (code %v)", err, status.Code(err))
	}
}

func TestBreakerOpensAndRejectsWithoutCalling(t *testing.T) {
	f := newFixture(t, breaker.Config{Trip: breaker.Consecutive(2)}, retry.Config{MaxAttempts: 5})
	h := &flakyHealth{script: []reply{{code: codes.Internal}, {code: codes.Unavailable}, {code: codes.Unavailable}}}
	c := start(t, h, f.ic)
	if err := f.check(c, context.Background()); status.Code(err) != codes.Internal {
		t.Fatalf("first call: %v", err) // Internal counts against the server but is not retried
	}
	err := f.check(c, context.Background())
	if !errors.Is(err, breaker.ErrOpen) || status.Code(err) != codes.Unavailable {
		t.Fatalf("second call: %v (code %v); want the open circuit, as Unavailable", err, status.Code(err))
	}
	if checks, _ := h.calls(); checks != 2 {
		t.Fatalf("%d calls reached the server, want 2", checks)
	}
}

func TestPushback(t *testing.T) {
	f := newFixture(t, breaker.Config{Trip: breaker.Consecutive(10)}, retry.Config{MaxDelay: time.Minute})
	h := &flakyHealth{script: []reply{{code: codes.Unavailable, pushback: "3000"}, {code: codes.ResourceExhausted, pushback: "-1"}}}
	err := f.check(start(t, h, f.ic), context.Background())
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("err %v; a negative pushback means: do not retry", err)
	}
	if len(*f.delays) != 1 || (*f.delays)[0] != 3*time.Second {
		t.Fatalf("delays %v, want the server's 3s", *f.delays)
	}
}

// A server that sheds with a pushback delay (as bwgrpc.NewServer does) is
// alive: its RESOURCE_EXHAUSTED opens no circuit. The same code without a
// pushback, or with "do not retry", counts against the server.
func TestSheddingWithPushbackOpensNoCircuit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pushback string
		opens    bool
	}{{"pushback 100 ms", "100", false}, {"no pushback", "", true}, {"do not retry", "-1", true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, breaker.Config{Trip: breaker.Consecutive(2)}, retry.Config{MaxAttempts: 1})
			h := &flakyHealth{}
			for range 3 {
				h.script = append(h.script, reply{code: codes.ResourceExhausted, pushback: tc.pushback})
			}
			c := start(t, h, f.ic)
			for range 3 {
				f.check(c, context.Background())
			}
			if checks, _ := h.calls(); (checks == 3) == tc.opens {
				t.Fatalf("%d of 3 calls reached the server; circuit should open: %v", checks, tc.opens)
			}
		})
	}
}

func TestCallDeadlineIsHonoured(t *testing.T) {
	f := newFixture(t, breaker.Config{Trip: breaker.Consecutive(10)}, retry.Config{MaxAttempts: 10, Delay: time.Second})
	h := &flakyHealth{script: []reply{{code: codes.Unavailable}, {code: codes.Unavailable}, {code: codes.Unavailable}, {code: codes.Unavailable}}}
	c := start(t, h, f.ic)
	// The deadline is real, but the retry delays run on the fake clock:
	// 1s and 2s fit in 3.5s; 4s more would not.
	ctx, cancel := context.WithDeadline(context.Background(), f.clk.Now().Add(3500*time.Millisecond+time.Minute))
	defer cancel()
	f.clk.Advance(time.Minute)
	err := f.check(c, ctx)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("err %v (code %v)", err, status.Code(err))
	}
	if checks, _ := h.calls(); checks != 3 {
		t.Fatalf("%d attempts, want 3", checks)
	}
}

func TestStreamOutcomeReachesTheBreaker(t *testing.T) {
	f := newFixture(t, breaker.Config{Trip: breaker.Consecutive(2)}, retry.Config{})
	h := &flakyHealth{script: []reply{{code: codes.OK}, {code: codes.Unavailable}, {code: codes.Internal}}}
	c := start(t, h, f.ic)
	watch := func() error {
		s, err := c.Watch(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		for {
			if _, err := s.Recv(); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
		}
	}
	if err := watch(); err != nil {
		t.Fatalf("healthy stream: %v", err)
	}
	for _, want := range []codes.Code{codes.Unavailable, codes.Internal} {
		if err := watch(); status.Code(err) != want {
			t.Fatalf("stream: %v, want %v", err, want)
		}
	}
	err := watch()
	if !errors.Is(err, breaker.ErrOpen) || status.Code(err) != codes.Unavailable {
		t.Fatalf("after two failed streams: %v", err)
	}
	if _, watches := h.calls(); watches != 3 {
		t.Fatalf("%d streams reached the server, want 3", watches)
	}
	m := f.reg.All()[0].Metrics()
	if m.Successes != 1 || m.Failures != 2 || m.Rejections != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestStreamOpeningIsRetried(t *testing.T) {
	// Nothing listens: opening a stream fails with Unavailable each time.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	f := newFixture(t, breaker.Config{Trip: breaker.Consecutive(10)}, retry.Config{MaxAttempts: 3})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStreamInterceptor(f.ic.Stream))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var werr error
	f.clk.Drive(func() {
		var s healthpb.Health_WatchClient
		s, werr = healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
		if werr == nil {
			_, werr = s.Recv()
		}
	})
	if status.Code(werr) != codes.Unavailable {
		t.Fatalf("err %v", werr)
	}
	if len(*f.delays) != 2 {
		t.Fatalf("delays %v, want 2 retries of the opening", *f.delays)
	}
}

func TestInvalidConfig(t *testing.T) {
	reg, _ := breaker.NewRegistry(breaker.Config{}, 0)
	p, _ := retry.New(retry.Config{})
	tests := []struct {
		give  bwgrpc.Config
		field string
	}{
		{bwgrpc.Config{NoBreaker: true, Breakers: reg}, "NoBreaker"},
		{bwgrpc.Config{NoRetry: true, Retry: p}, "NoRetry"},
		{bwgrpc.Config{RetryCodes: []codes.Code{codes.OK}}, "RetryCodes"},
		{bwgrpc.Config{FailureCodes: []codes.Code{99}}, "FailureCodes"},
	}
	for _, tt := range tests {
		_, err := bwgrpc.New(tt.give)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, config.ErrInvalid) ||
			!strings.Contains(err.Error(), "bwgrpc: invalid Config."+tt.field) {
			t.Errorf("New(%+v) = %v; want a *config.Error for %s", tt.give, err, tt.field)
		}
	}
	if _, err := bwgrpc.New(bwgrpc.Config{}); err != nil {
		t.Fatalf("the zero Config: %v", err)
	}
}
