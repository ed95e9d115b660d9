package bwgrpc

import (
	"context"
	"errors"
	"strconv"

	"github.com/breakwater-go/breakwater/admission"
	"github.com/breakwater-go/breakwater/outcome"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// PriorityKey is the metadata key through which a client tells a server
// of ours a call's priority: "critical", "default" or "sheddable"
// (admission.Priority.UnmarshalText). The call's deadline needs no key of its own:
// gRPC sends it (grpc-timeout) and the server's context carries it.
const PriorityKey = "breakwater-priority"

// ServerConfig describes a Server.
type ServerConfig struct {
	// Admission admits the calls; it is required.
	Admission *admission.Controller
	// Priority returns a call's priority from its context (its incoming
	// metadata) and full method name. Nil means the PriorityKey metadata's,
	// and Default without it (or with a value it cannot parse).
	Priority func(ctx context.Context, method string) admission.Priority
}

// Server puts admission control in front of a gRPC server's handlers: its
// Unary and Stream are server interceptors. A shed call fails with
// RESOURCE_EXHAUSTED and the trailer grpc-retry-pushback-ms (gRFC A6),
// which the client Interceptor honours: its retries wait that long.
type Server struct {
	cfg ServerConfig
}

// NewServer returns a Server described by cfg.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Admission == nil {
		return nil, invalid("Admission", "is nil")
	}
	if cfg.Priority == nil {
		cfg.Priority = priorityFromMetadata
	}
	return &Server{cfg: cfg}, nil
}

func priorityFromMetadata(ctx context.Context, _ string) admission.Priority {
	md, _ := metadata.FromIncomingContext(ctx)
	var p admission.Priority // Default, unless the metadata names another
	if v := md.Get(PriorityKey); len(v) > 0 {
		_ = p.UnmarshalText([]byte(v[0]))
	}
	return p
}

// Unary admits each call before its handler runs, and holds its slot
// until the handler returns. The handler's latency teaches the limit: a
// status that says the server is struggling (UNAVAILABLE,
// RESOURCE_EXHAUSTED, INTERNAL, UNKNOWN, DEADLINE_EXCEEDED) counts as a
// failure, sampled only as slow; a call whose client went away, or whose
// handler panicked, is not sampled. A panic goes on after the slot is
// freed.
func (s *Server) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	permit, err := s.admit(ctx, info.FullMethod, func(md metadata.MD) { grpc.SetTrailer(ctx, md) })
	if err != nil {
		return nil, err
	}
	returned := false
	defer func() {
		switch {
		case !returned, errors.Is(ctx.Err(), context.Canceled): // a panic, or a client gone
			permit.Release()
		case struggling(err):
			permit.Done(err)
		default:
			permit.Done(nil)
		}
	}()
	resp, err = handler(ctx, req)
	returned = true
	return resp, err
}

// Stream admits each stream before its handler runs. A stream may live
// for hours, so it does not hold a slot: it is admitted or shed on
// arrival, as a unary call would be, and frees its slot at once,
// unsampled.
func (s *Server) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	permit, err := s.admit(ss.Context(), info.FullMethod, ss.SetTrailer)
	if err != nil {
		return err
	}
	permit.Release()
	return handler(srv, ss)
}

// admit admits a call; a shed one gets its status and the pushback
// trailer, set by trailer.
func (s *Server) admit(ctx context.Context, method string, trailer func(metadata.MD)) (outcome.Permit, error) {
	permit, err := s.cfg.Admission.Admit(ctx, s.cfg.Priority(ctx, method))
	if err == nil {
		return permit, nil
	}
	if !errors.Is(err, admission.ErrShed) {
		return permit, status.FromContextError(err).Err() // the client went away
	}
	after, _ := outcome.RetryAfter(err)
	trailer(metadata.Pairs("grpc-retry-pushback-ms", strconv.FormatInt(after.Milliseconds(), 10)))
	return permit, status.Error(codes.ResourceExhausted, err.Error())
}

// struggling reports a status that says the server is overloaded or
// failing, rather than the request's own fault.
func struggling(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.Internal, codes.Unknown, codes.DeadlineExceeded:
		return true
	}
	return false
}
