package bwhttp

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/breakwater-go/breakwater/admission"
	"github.com/breakwater-go/breakwater/outcome"
)

// The headers through which a client of ours tells a server of ours what
// a request is worth and how long it may take.
const (
	// PriorityHeader carries the request's priority: "critical",
	// "default" or "sheddable" (admission.Priority.UnmarshalText).
	PriorityHeader = "Breakwater-Priority"
	// TimeoutHeader carries how long the client will wait for the answer,
	// in whole milliseconds: the server sheds what it cannot answer in
	// time. The Transport sets it from each attempt's deadline.
	TimeoutHeader = "Breakwater-Timeout-Ms"
)

// ServerConfig describes a Handler.
type ServerConfig struct {
	// Admission admits the requests; it is required.
	Admission *admission.Controller
	// Priority returns a request's priority. Nil means the PriorityHeader
	// header's, and Default without one (or with one it cannot parse).
	Priority func(*http.Request) admission.Priority
}

// NewHandler returns next behind admission control: each request is
// admitted by cfg.Admission before next serves it, within the deadline of
// its TimeoutHeader, which next's context then carries. A shed request is
// answered 503 Service Unavailable with Retry-After, which the Transport
// honours. A request whose client goes away while it waits is dropped
// without an answer.
//
// Each answered request's latency teaches the limit; a 5xx answer counts
// as a failure (sampled only as slow), a request whose client went away or
// whose handler panicked is not sampled. A panic goes on after the
// request's slot is freed.
func NewHandler(next http.Handler, cfg ServerConfig) (http.Handler, error) {
	if cfg.Admission == nil {
		return nil, invalid("Admission", "is nil")
	}
	if next == nil {
		return nil, invalid("next", "is nil")
	}
	if cfg.Priority == nil {
		cfg.Priority = priorityFromHeader
	}
	return &admissionHandler{next: next, cfg: cfg}, nil
}

func priorityFromHeader(r *http.Request) admission.Priority {
	var p admission.Priority // Default, unless the header names another
	if h := r.Header.Get(PriorityHeader); h != "" {
		_ = p.UnmarshalText([]byte(h))
	}
	return p
}

type admissionHandler struct {
	next http.Handler
	cfg  ServerConfig
}

// errServerError is the outcome the limit is told of a 5xx answer.
var errServerError = errors.New("bwhttp: the handler answered 5xx")

func (h *admissionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	client := ctx // the connection's: it is canceled when the client goes
	if ms, err := strconv.ParseInt(r.Header.Get(TimeoutHeader), 10, 64); err == nil && ms >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(min(ms, int64(24*time.Hour/time.Millisecond)))*time.Millisecond)
		defer cancel()
		r = r.WithContext(ctx)
	}
	permit, err := h.cfg.Admission.Admit(ctx, h.cfg.Priority(r))
	if err != nil {
		if errors.Is(err, admission.ErrShed) {
			after, _ := outcome.RetryAfter(err)
			w.Header().Set("Retry-After", strconv.FormatInt(int64((after+time.Second-1)/time.Second), 10))
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
		return // the client went away: nobody to answer
	}
	rec := &statusRecorder{ResponseWriter: w}
	finished := false
	defer func() {
		switch {
		case !finished, client.Err() != nil: // a panic, or a client gone
			// (A request that outlived its TimeoutHeader is sampled: slow
			// answers are what the limit learns from.)
			permit.Release()
		case rec.status >= 500:
			permit.Done(errServerError)
		default:
			permit.Done(nil)
		}
	}()
	h.next.ServeHTTP(rec, r)
	finished = true
}

// statusRecorder remembers the status a handler answered. Unwrap lets
// http.ResponseController reach the writer's other abilities.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush sends what was written so far, if the writer can.
func (s *statusRecorder) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
