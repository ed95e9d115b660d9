package bwgrpc_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/admission"
	"github.com/breakwater-go/breakwater/bwgrpc"
	"github.com/breakwater-go/breakwater/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// gatedHealth holds each Check until release is closed; a Check of the
// service "panic" panics. Watch sends SERVING and holds the stream.
type gatedHealth struct {
	healthpb.UnimplementedHealthServer
	release chan struct{}
}

func (h *gatedHealth) Check(ctx context.Context, r *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if r.Service == "panic" {
		panic("the handler panics")
	}
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (h *gatedHealth) Watch(_ *healthpb.HealthCheckRequest, s grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	if err := s.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}); err != nil {
		return err
	}
	<-s.Context().Done()
	return nil
}

// serveAdmitted serves h on 127.0.0.1 behind admission control of a fixed
// limit, with a recovery interceptor outside it (as a server in production
// has), and returns a plain client of it.
func serveAdmitted(t *testing.T, h healthpb.HealthServer, limit int, cfg admission.Config) (healthpb.HealthClient, *admission.Controller) {
	t.Helper()
	cfg.Limit = admission.LimitConfig{Min: limit, Max: limit}
	c, err := admission.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := bwgrpc.NewServer(bwgrpc.ServerConfig{Admission: c})
	if err != nil {
		t.Fatal(err)
	}
	recovering := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if recover() != nil {
				err = status.Error(codes.Internal, "the handler panicked")
			}
		}()
		return handler(ctx, req)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(recovering, s.Unary), grpc.StreamInterceptor(s.Stream))
	healthpb.RegisterHealthServer(srv, h)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn), c
}

// Past the limit and the queue, a call fails with RESOURCE_EXHAUSTED and
// the pushback trailer; a critical call pushes a sheddable one out of a
// full queue; the slots come back.
func TestServerShedsWithPushback(t *testing.T) {
	h := &gatedHealth{release: make(chan struct{})}
	client, c := serveAdmitted(t, h, 1, admission.Config{MaxQueue: 1, RetryAfter: 1500 * time.Millisecond})
	ctx := context.Background()
	results := make(chan error, 3)
	check := func(ctx context.Context) { _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); results <- err }
	go check(ctx)
	waitFor(t, func() bool { return c.Metrics().InFlight == 1 })
	go check(metadata.AppendToOutgoingContext(ctx, bwgrpc.PriorityKey, "sheddable"))
	waitFor(t, func() bool { return c.Metrics().Queued == 1 })
	go check(metadata.AppendToOutgoingContext(ctx, bwgrpc.PriorityKey, "critical"))
	if err := <-results; status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("the sheddable call: %v", err)
	}
	var trailer metadata.MD
	_, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("past a queue of one critical call: %v", err)
	}
	if got := trailer.Get("grpc-retry-pushback-ms"); len(got) != 1 || got[0] != "1500" {
		t.Fatalf("pushback trailer %v", got)
	}
	close(h.release)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { m := c.Metrics(); return m.InFlight == 0 && m.Admitted[admission.Critical] == 1 })
}

// A handler that panics frees its slot; a client that cancels while its
// call is queued leaves the queue; a call whose deadline cannot be met is
// shed before any work.
func TestServerFaultPaths(t *testing.T) {
	h := &gatedHealth{release: make(chan struct{})}
	client, c := serveAdmitted(t, h, 1, admission.Config{})
	ctx := context.Background()
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "panic"}); status.Code(err) != codes.Internal {
		t.Fatalf("a panicking handler: %v", err)
	}
	waitFor(t, func() bool { return c.Metrics().InFlight == 0 })

	held := make(chan error, 1)
	go func() { _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); held <- err }()
	waitFor(t, func() bool { return c.Metrics().InFlight == 1 })
	cctx, cancel := context.WithCancel(ctx)
	gone := make(chan error, 1)
	go func() { _, err := client.Check(cctx, &healthpb.HealthCheckRequest{}); gone <- err }()
	waitFor(t, func() bool { return c.Metrics().Queued == 1 })
	cancel()
	if err := <-gone; status.Code(err) != codes.Canceled {
		t.Fatalf("a canceled call: %v", err)
	}
	waitFor(t, func() bool { m := c.Metrics(); return m.Queued == 0 && m.Canceled == 1 })

	dctx, dcancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer dcancel()
	_, err := client.Check(dctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.ResourceExhausted && status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a call queued past its deadline: %v", err)
	}
	close(h.release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	// Whatever became of the call that ran out of time (shed at its
	// deadline, canceled by the client first, or, on a loaded machine,
	// reaching the server after the slot was free), nothing is left held.
	waitFor(t, func() bool { m := c.Metrics(); return m.InFlight == 0 && m.Queued == 0 })
}

// A stream is admitted on arrival and holds no slot while it lives.
func TestServerAdmitsStreamsOnArrival(t *testing.T) {
	h := &gatedHealth{release: make(chan struct{})}
	client, c := serveAdmitted(t, h, 1, admission.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 3 {
		w, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	if m := c.Metrics(); m.InFlight != 0 || m.Admitted[admission.Default] != 3 {
		t.Fatalf("three live streams: %+v", m)
	}
	close(h.release)
	if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestNewServerConfig(t *testing.T) {
	_, err := bwgrpc.NewServer(bwgrpc.ServerConfig{})
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Field != "Admission" {
		t.Fatalf("without a controller: %v", err)
	}
}
