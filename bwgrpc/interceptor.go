// Package bwgrpc puts Breakwater into gRPC clients: unary and streaming
// interceptors that retry (or hedge) and break circuits by status code,
// honour the call's deadline and the server's retry pushback.
//
// It is a module of its own, so that the Breakwater core stays free of
// third-party dependencies.
package bwgrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/attempt"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/registry"
	"github.com/breakwater-go/breakwater/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Config describes an Interceptor. The zero Config is a sensible one: a
// breaker per target with the breaker defaults, and the default retry
// policy for the retryable codes.
type Config struct {
	// Breakers holds a breaker per key. Nil means a registry of its own,
	// with the breaker defaults.
	Breakers *registry.Registry[*breaker.Breaker]
	// NoBreaker turns circuit breaking off.
	NoBreaker bool
	// Key names a call's breaker. Nil means the connection's target: one
	// circuit per server.
	Key func(method string, cc *grpc.ClientConn) string

	// Retry times the attempts: their number, delays and budget. Nil means
	// retry.New(retry.Config{}). Which codes are retried is decided by
	// RetryCodes, not by the policy's own lists.
	Retry *retry.Policy
	// NoRetry makes every call once.
	NoRetry bool
	// RetryCodes are the codes retried. Nil means DefaultRetryCodes.
	RetryCodes []codes.Code
	// FailureCodes are the codes that count against the server for its
	// breaker; other codes are the caller's business and count as
	// successes, except Canceled, which is ignored. Nil means
	// DefaultFailureCodes.
	FailureCodes []codes.Code

	// Hedge, when set, hedges unary calls (those Hedged chooses) instead
	// of retrying them, as gRPC's hedging policy does: a call without an
	// answer after the policy's delay is sent again alongside; the first
	// answer that is not retried (by RetryCodes) wins and the others are
	// cancelled; a retried code starts the next hedge at once; a
	// grpc-retry-pushback-ms of "do not retry" stops hedging. Each attempt
	// goes through the target's breaker and no hedge starts while it is
	// open. Each attempt decodes into a reply of its own, copied into the
	// caller's when it wins, so replies must be protocol buffers (calls
	// whose reply is not are retried instead). Hedge only methods that are
	// safe to run twice.
	Hedge *hedge.Policy
	// Hedged decides which methods are hedged, by full method name
	// ("/pkg.Service/Method"). Nil means every unary method.
	Hedged func(method string) bool

	// Shedding puts load-shedding policies in front of each key (a
	// throttle, a rate limit, a bulkhead, an adaptive limit, each from its
	// registry) for unary calls: they run for every attempt, inside the
	// key's breaker, in the order Shedding.Policies gives. A call they turn
	// away fails with a *ShedError (codes.ResourceExhausted, matching the
	// policy's sentinel: bulkhead.ErrFull, ...), which counts as neither
	// success nor failure for the breaker and is not retried. A throttle
	// counts as refused the calls whose code is in FailureCodes. Streams
	// are not shed: a stream's slot would be held for its whole life.
	Shedding breakwater.Shedding
}

// DefaultRetryCodes are the codes that say "try again": the server is
// unreachable or overloaded, or the attempt took too long. A call whose own
// deadline has passed is never retried.
var DefaultRetryCodes = []codes.Code{codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded}

// DefaultFailureCodes are the codes that say the server is unwell.
var DefaultFailureCodes = []codes.Code{
	codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded,
	codes.Internal, codes.Unknown, codes.DataLoss,
}

func invalid(field, format string, args ...any) error {
	return &config.Error{Package: "bwgrpc", Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Interceptor applies retries and circuit breaking to a gRPC client's
// calls. Install its methods with grpc.WithUnaryInterceptor(i.Unary) and
// grpc.WithStreamInterceptor(i.Stream). It is safe for concurrent use.
type Interceptor struct {
	breakers *registry.Registry[*breaker.Breaker]
	key      func(string, *grpc.ClientConn) string
	retry    *retry.Policy
	hedge    *hedge.Policy
	hedged   func(string) bool
	shedding breakwater.Shedding
	retryOn  [codes.Unauthenticated + 1]bool
	failOn   [codes.Unauthenticated + 1]bool
}

// New returns an Interceptor described by cfg.
func New(cfg Config) (*Interceptor, error) {
	switch {
	case cfg.NoBreaker && cfg.Breakers != nil:
		return nil, invalid("NoBreaker", "cannot be set together with Breakers")
	case cfg.NoRetry && cfg.Retry != nil:
		return nil, invalid("NoRetry", "cannot be set together with Retry")
	case cfg.Hedged != nil && cfg.Hedge == nil:
		return nil, invalid("Hedged", "needs Hedge")
	}
	ic := &Interceptor{breakers: cfg.Breakers, key: cfg.Key, retry: cfg.Retry, hedge: cfg.Hedge, hedged: cfg.Hedged, shedding: cfg.Shedding}
	var err error
	if ic.breakers == nil && !cfg.NoBreaker {
		if ic.breakers, err = breaker.NewRegistry(breaker.Config{}, 0); err != nil {
			return nil, err
		}
	}
	if ic.key == nil {
		ic.key = func(_ string, cc *grpc.ClientConn) string { return cc.Target() }
	}
	if ic.retry == nil && !cfg.NoRetry {
		if ic.retry, err = retry.New(retry.Config{}); err != nil {
			return nil, err
		}
	}
	if err := setCodes(&ic.retryOn, cfg.RetryCodes, DefaultRetryCodes, "RetryCodes"); err != nil {
		return nil, err
	}
	if err := setCodes(&ic.failOn, cfg.FailureCodes, DefaultFailureCodes, "FailureCodes"); err != nil {
		return nil, err
	}
	return ic, nil
}

func setCodes(set *[codes.Unauthenticated + 1]bool, list, def []codes.Code, field string) error {
	if list == nil {
		list = def
	}
	for _, c := range list {
		if c == codes.OK || c > codes.Unauthenticated {
			return invalid(field, "must list codes other than OK, got %v", c)
		}
		set[c] = true
	}
	return nil
}

// Breakers returns the registry of the interceptor's breakers; nil without
// breakers.
func (ic *Interceptor) Breakers() *registry.Registry[*breaker.Breaker] { return ic.breakers }

// Unary is a grpc.UnaryClientInterceptor. A call runs through the same
// stack users compose with breakwater.Wrap: the retry or hedging policy
// around the target's breaker, each attempt's error marked with how it
// counts for the breaker and whether it is retried, by the interceptor's
// codes.
func (ic *Interceptor) Unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	msg, hedged := reply.(proto.Message)
	hedged = hedged && ic.hedge != nil && (ic.hedged == nil || ic.hedged(method))
	// What the caller asked to be told of the call (its header, trailer,
	// peer, OnFinish) is filled from the attempt whose answer is returned
	// alone: each attempt fills its own.
	opts, asked := takeCallerOptions(opts)
	var p pushbacks
	send := func(ctx context.Context) (*answer, error) {
		if err := p.wait(ctx); err != nil { // a hedge, after a server's pushback
			return nil, err
		}
		if n := attempt.From(ctx).Previous(); n > 0 { // gRFC A6
			ctx = metadata.AppendToOutgoingContext(ctx, "grpc-previous-rpc-attempts", strconv.Itoa(n))
		}
		a := &answer{}
		into := reply
		if hedged { // attempts run at once: each decodes into its own reply
			a.msg = msg.ProtoReflect().New().Interface()
			into = a.msg
		}
		// Attempts run at once: each appends to a copy of opts.
		err := invoker(ctx, method, req, into, cc, append(opts[:len(opts):len(opts)], grpc.Header(&a.header), grpc.Trailer(&a.trailer), grpc.Peer(&a.peer))...)
		if local(err) { // never reached the server: not its failure, and the same again if retried
			return a, outcome.Permanent(outcome.Mark(err, outcome.Ignored))
		}
		if hedged {
			return a, p.hedgeable(ic, ic.counted(err, a.trailer), a.trailer)
		}
		return a, ic.retryable(ic.counted(err, a.trailer), a.trailer)
	}
	var policies []any
	key := ""
	if ic.breakers != nil || ic.shedding != (breakwater.Shedding{}) {
		key = ic.key(method, cc)
	}
	var b *breaker.Breaker
	if ic.breakers != nil {
		b = ic.breakers.Get(key)
	}
	switch {
	case hedged:
		// The pushbacks sit inside the hedge, beside the breaker: both are
		// gates it asks before each hedge.
		policies = append(policies, ic.hedge, &p)
	case ic.retry != nil:
		policies = append(policies, ic.retry)
	}
	if b != nil {
		policies = append(policies, b)
	}
	policies = append(policies, ic.shedding.Policies(key)...)
	won, err := breakwater.Execute(ctx, send, policies...)
	if hedged && won != nil && won.msg != nil {
		proto.Reset(msg)
		proto.Merge(msg, won.msg)
	}
	err = finalError(err)
	asked.tell(won, err)
	return err
}

// answer is what one attempt of a unary call received.
type answer struct {
	msg             proto.Message // the reply, for a hedged call's attempts
	header, trailer metadata.MD
	peer            peer.Peer
}

// callerOptions are the call options through which the caller asked to be
// told of the call, taken out of the options each attempt gets.
type callerOptions struct {
	headers, trailers []*metadata.MD
	peers             []*peer.Peer
	onFinish          []func(error)
}

// takeCallerOptions returns opts without the caller's Header, Trailer,
// Peer and OnFinish options (in a new slice: opts may be the connection's
// shared defaults), and those options.
func takeCallerOptions(opts []grpc.CallOption) ([]grpc.CallOption, callerOptions) {
	var asked callerOptions
	kept := make([]grpc.CallOption, 0, len(opts))
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			asked.headers = append(asked.headers, o.HeaderAddr)
		case grpc.TrailerCallOption:
			asked.trailers = append(asked.trailers, o.TrailerAddr)
		case grpc.PeerCallOption:
			asked.peers = append(asked.peers, o.PeerAddr)
		case grpc.OnFinishCallOption:
			asked.onFinish = append(asked.onFinish, o.OnFinish)
		default:
			kept = append(kept, o)
		}
	}
	return kept, asked
}

// tell fills what the caller asked for from the answer returned (none when
// no attempt was made), before the call returns, and runs OnFinish once
// with the call's error.
func (c callerOptions) tell(a *answer, err error) {
	if a == nil {
		a = &answer{}
	}
	for _, h := range c.headers {
		*h = a.header
	}
	for _, t := range c.trailers {
		*t = a.trailer
	}
	for _, p := range c.peers {
		*p = a.peer
	}
	for _, f := range c.onFinish {
		f(err)
	}
}

// local reports an error of an attempt that never left the client: a
// request that cannot be marshalled, or is larger than the connection
// sends. Whoever controls such a request could otherwise open the
// target's circuit for every caller.
func local(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	// grpc-go says so in the message only (as of v1.7x: "rpc error: code =
	// Internal desc = grpc: error while marshaling: ..." and "trying to
	// send message larger than max (13 vs. 4)"); TestLocalErrorsAreNotThe-
	// ServersFailures fails if a version words them otherwise.
	switch st.Code() {
	case codes.Internal:
		return strings.Contains(st.Message(), "grpc: error while marshaling")
	case codes.ResourceExhausted:
		return strings.Contains(st.Message(), "trying to send message larger than max")
	}
	return false
}

// pushbacks is what the servers of a hedged call said with
// grpc-retry-pushback-ms, as gRFC A6 has hedging follow it: "do not retry"
// stops further hedges (those running go on), a delay holds the next hedge
// back.
type pushbacks struct {
	stop  atomic.Bool
	until atomic.Int64 // unix nanoseconds before which no hedge is sent
}

// hedgeable returns an attempt's error as the hedging policy should see
// it: a pushback saying "do not retry" stops the hedges to come but ends
// no attempt still running (the error stays retryable); a delay holds the
// next hedge back by that much.
func (p *pushbacks) hedgeable(ic *Interceptor, err error, trailer metadata.MD) error {
	if c := status.Code(err); err != nil && int(c) < len(ic.retryOn) && ic.retryOn[c] {
		if v := trailer.Get("grpc-retry-pushback-ms"); len(v) > 0 {
			d, ok := pushback(v[0])
			if !ok {
				p.stop.Store(true)
			} else {
				p.until.Store(time.Now().Add(d).UnixNano())
			}
			return outcome.Retryable(err)
		}
	}
	return ic.retryable(err, trailer)
}

// Apply makes the pushbacks a layer of the call's stack that runs nothing
// of its own: it is there to be the hedge's gate.
func (p *pushbacks) Apply(next breakwater.Next) breakwater.Next { return next }

// Gate closes the hedging policy's gate after a "do not retry".
func (p *pushbacks) Gate() (time.Duration, error) {
	if p.stop.Load() {
		return 0, errNoHedge
	}
	return 0, nil
}

// wait holds an attempt back until a delay a server asked for has passed.
func (p *pushbacks) wait(ctx context.Context) error {
	d := time.Until(time.Unix(0, p.until.Load()))
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errNoHedge stops hedging after a server's "do not retry" pushback.
var errNoHedge = errors.New("bwgrpc: the server's pushback says not to retry")

// counted marks err with how the call counts for its breaker: a code of
// FailOn is a failure, unless the server said when to come back
// (grpc-retry-pushback-ms of a delay): then it is shedding, alive and
// overloaded (outcome.Overloaded: no failure of the breaker's, a refusal of
// a throttle's).
func (ic *Interceptor) counted(err error, trailer metadata.MD) error {
	if err == nil {
		return nil
	}
	o := outcome.Success // the caller's business
	switch c := status.Code(err); {
	case c == codes.Canceled:
		o = outcome.Ignored // the caller gave up
	case int(c) < len(ic.failOn) && ic.failOn[c]:
		o = outcome.Failure
		if v := trailer.Get("grpc-retry-pushback-ms"); len(v) > 0 {
			if _, ok := pushback(v[0]); ok {
				o = outcome.Overloaded
			}
		}
	}
	return outcome.Mark(err, o) // status.Code sees through it
}

// Stream is a grpc.StreamClientInterceptor. Retries cover the opening of
// the stream only: once messages flow, a failed stream is the caller's to
// restart. The stream's outcome is reported to its breaker when it ends:
// RecvMsg returns an error or io.EOF, or the stream's context ends first
// (cancelled: neither success nor failure; deadline: DeadlineExceeded). A
// half-open probe holds its slot until then.
func (ic *Interceptor) Stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	b := ic.breaker(method, cc)
	var cs grpc.ClientStream
	attempt := func(ctx context.Context) error {
		permit, err := allow(ctx, b)
		if err != nil {
			return err
		}
		returned := false
		defer settle(permit, &returned)
		s, err := streamer(ctx, desc, cc, method, opts...)
		returned = true
		if err != nil {
			ic.report(permit, err)
			return ic.retryable(err, nil)
		}
		cs = newStream(ctx, s, ic, permit)
		return nil
	}
	if err := ic.run(ctx, b, attempt); err != nil {
		return nil, err
	}
	return cs, nil
}

// run makes attempt once, or through the retry policy. Which errors are
// retried is the interceptor's decision, made before the policy sees them
// (what is not retried comes marked permanent), and the policy does not
// sleep before an attempt the breaker would still reject.
func (ic *Interceptor) run(ctx context.Context, b *breaker.Breaker, attempt func(context.Context) error) error {
	if ic.retry == nil {
		return attempt(ctx)
	}
	var opts retry.Options[struct{}]
	if b != nil {
		opts.Gate = b.Gate
	}
	_, err := retry.ExecuteWith(ctx, ic.retry, opts, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, attempt(ctx)
	})
	return finalError(err)
}

// breaker returns the call's breaker; nil without breakers.
func (ic *Interceptor) breaker(method string, cc *grpc.ClientConn) *breaker.Breaker {
	if ic.breakers == nil {
		return nil
	}
	return ic.breakers.Get(ic.key(method, cc))
}

// allow asks b for a permit; a rejection is never retried.
func allow(ctx context.Context, b *breaker.Breaker) (outcome.Permit, error) {
	if b == nil {
		return outcome.Permit{}, nil
	}
	p, err := b.Allow(ctx)
	if err != nil {
		return p, outcome.Permanent(&OpenError{err: err})
	}
	return p, nil
}

// settle, deferred by an attempt, reports an invoker or streamer that
// panicked (never returned) as a failure, so that its permit is not kept.
func settle(p outcome.Permit, returned *bool) {
	if !*returned {
		p.Done(breaker.ErrPanicked)
	}
}

// report tells the breaker how a call that ended with err went.
func (ic *Interceptor) report(p outcome.Permit, err error) {
	switch o := ic.outcome(err); {
	case errors.Is(o, context.Canceled):
		p.Release() // the caller gave up: neither success nor failure
	default:
		p.Done(o)
	}
}

// outcome is what the breaker is told of a call that ended with err.
func (ic *Interceptor) outcome(err error) error {
	switch c := status.Code(err); {
	case c == codes.OK:
		return nil
	case c == codes.Canceled:
		return context.Canceled // the caller gave up: neither success nor failure
	case int(c) < len(ic.failOn) && ic.failOn[c]:
		return err
	}
	return nil
}

// retryable returns err as the retry policy should see it: as it is when
// its code is retried (with the server's pushback as a delay), and marked
// permanent otherwise.
func (ic *Interceptor) retryable(err error, trailer metadata.MD) error {
	if err == nil || ic.retry == nil && ic.hedge == nil {
		return err
	}
	c := status.Code(err)
	if int(c) >= len(ic.retryOn) || !ic.retryOn[c] {
		return outcome.Permanent(err)
	}
	if v := trailer.Get("grpc-retry-pushback-ms"); len(v) > 0 {
		d, ok := pushback(v[0])
		if !ok {
			return outcome.Permanent(err) // the server says: do not retry
		}
		return outcome.Retryable(outcome.After(d, err))
	}
	return outcome.Retryable(err) // the interceptor's codes decide, not the policy's lists
}

// pushback parses a grpc-retry-pushback-ms value: a delay, or ok false for
// "do not retry" (a negative or malformed value, as gRFC A6 says). A delay
// beyond any retry policy's cap is cut to a day rather than overflowing.
func pushback(v string) (d time.Duration, ok bool) {
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 {
		return 0, false
	}
	const day = int64(24 * time.Hour / time.Millisecond)
	return time.Duration(min(ms, day)) * time.Millisecond, true
}

// finalError gives the caller the error a gRPC caller expects: the
// attempt's own status error, a rejection as codes.Unavailable, and a call
// cut short by its context with its context's code, keeping the last
// attempt's error in the message.
func finalError(err error) error {
	err = outcome.Unmark(err) // the marks were for the policies
	var oe *breaker.OpenError
	if errors.As(err, &oe) && err == error(oe) {
		return &OpenError{err: oe}
	}
	if _, has := status.FromError(err); !has && outcome.Rejected(err) {
		return &ShedError{err: err} // a load-shedding policy's, without a code of its own
	}
	var re *retry.Error
	if !errors.As(err, &re) {
		return err
	}
	switch {
	case errors.Is(re.Cause, context.DeadlineExceeded):
		return status.Errorf(codes.DeadlineExceeded, "%v after %d attempt(s); last: %v", re.Cause, re.Attempts, re.Err)
	case errors.Is(re.Cause, context.Canceled):
		return status.Errorf(codes.Canceled, "%v after %d attempt(s); last: %v", re.Cause, re.Attempts, re.Err)
	}
	return err
}

// OpenError is the error of a call turned away by an open circuit. It
// matches breaker.ErrOpen, and gRPC sees it as codes.Unavailable.
type OpenError struct{ err error }

func (e *OpenError) Error() string { return e.err.Error() }

// Unwrap returns the breaker's *breaker.OpenError.
func (e *OpenError) Unwrap() error { return e.err }

// GRPCStatus reports the error as codes.Unavailable.
func (e *OpenError) GRPCStatus() *status.Status {
	return status.New(codes.Unavailable, e.err.Error())
}

// ShedError is the error of a call turned away by a load-shedding policy
// (Config.Shedding). It matches the policy's sentinel (bulkhead.ErrFull,
// throttle.ErrThrottled, ...), and gRPC sees it as
// codes.ResourceExhausted.
type ShedError struct{ err error }

func (e *ShedError) Error() string { return e.err.Error() }

// Unwrap returns the policy's error.
func (e *ShedError) Unwrap() error { return e.err }

// GRPCStatus reports the error as codes.ResourceExhausted.
func (e *ShedError) GRPCStatus() *status.Status {
	return status.New(codes.ResourceExhausted, e.err.Error())
}

// stream reports its outcome to its breaker when it ends: at the end of
// RecvMsg, or when its context ends first, for a caller that abandons the
// stream without reading it to the end.
type stream struct {
	grpc.ClientStream
	ic     *Interceptor
	permit outcome.Permit
	once   sync.Once
	stop   func() bool // stops the context watch
}

func newStream(ctx context.Context, cs grpc.ClientStream, ic *Interceptor, permit outcome.Permit) *stream {
	s := &stream{ClientStream: cs, ic: ic, permit: permit}
	s.stop = context.AfterFunc(ctx, func() {
		s.end(status.FromContextError(ctx.Err()).Err())
	})
	return s
}

func (s *stream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	switch {
	case err == io.EOF:
		s.stop()
		s.end(nil)
	case err != nil:
		s.stop()
		s.end(err)
	}
	return err
}

// end reports the stream's outcome, once.
func (s *stream) end(err error) {
	s.once.Do(func() { s.ic.report(s.permit, err) })
}
