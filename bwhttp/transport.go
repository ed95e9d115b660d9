// Package bwhttp puts Breakwater into net/http: a RoundTripper that retries
// and breaks circuits per host, a one-line client, and a health handler
// that serves the state of a registry's breakers as JSON.
package bwhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/attempt"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/registry"
	"github.com/breakwater-go/breakwater/retry"
)

// Config describes a Transport. The zero Config is a sensible one: the
// default transport underneath, a breaker per host with the breaker
// defaults, and the default retry policy for idempotent requests.
type Config struct {
	// Base sends each attempt. Nil means http.DefaultTransport.
	Base http.RoundTripper

	// Breakers holds a breaker per key. Nil means a registry of its own,
	// with the breaker defaults and the registry's default bound
	// (1,000 hosts by default, the idle ones evicted past it).
	Breakers *registry.Registry[*breaker.Breaker]
	// NoBreaker turns circuit breaking off.
	NoBreaker bool
	// Key names a request's breaker. Nil means the request's host (with
	// its port, if any): one circuit per host.
	Key func(*http.Request) string

	// Retry times the attempts: their number, delays and budget. Nil means
	// retry.New(retry.Config{}). Which failures are retried is decided by
	// Retryable, not by the policy's own lists.
	Retry *retry.Policy
	// NoRetry sends every request once.
	NoRetry bool
	// RetryNonIdempotent allows retrying requests whose method is not
	// idempotent (POST, PATCH, ...). By default such a request is retried
	// only if it carries an Idempotency-Key header.
	RetryNonIdempotent bool
	// Retryable decides whether an attempt's outcome is retried. Nil means
	// DefaultRetryable.
	Retryable func(resp *http.Response, err error) bool
	// IsFailure decides whether an attempt's outcome counts as a failure
	// of the host for its breaker: transport errors and answers alike.
	// What it rejects counts as a success, except an attempt the caller
	// cancelled, which counts as neither. Nil means DefaultIsFailure.
	IsFailure func(resp *http.Response, err error) bool

	// Hedge, when set, hedges the requests that may be sent again (the
	// same rules as retries: an idempotent method or an Idempotency-Key,
	// a replayable body) instead of retrying them: a request without an
	// answer after the policy's delay is sent again alongside, the first
	// answer that is not retried wins, and the others are cancelled, their
	// answers drained and closed. An answer to retry (a 503) starts the
	// next hedge at once. Each attempt goes through the host's breaker;
	// no hedge starts while it is open.
	Hedge *hedge.Policy

	// Shedding puts load-shedding policies in front of each host (by Key):
	// a throttle, a rate limit, a bulkhead, an adaptive limit, each from
	// its registry. They run for every attempt, inside the host's breaker,
	// in the order Shedding.Policies gives. What they turn away is an error
	// matching their package's sentinel (throttle.ErrThrottled,
	// bulkhead.ErrFull, ...): a rejection, which counts as neither success
	// nor failure for the breaker and is not retried (shedding load is its
	// point). A throttle counts as refused the attempts IsFailure counts
	// against the host (those its own Refused accepts).
	Shedding breakwater.Shedding

	// AttemptHeader, when set, names a header each attempt carries with
	// its number, from 1 (Envoy sends x-envoy-attempt-count): the server
	// sees which requests are retries or hedges, to log them or shed them
	// first. The caller's request is never changed: the header goes on a
	// copy.
	AttemptHeader string

	// Clock reads the time for Retry-After dates. Nil means clock.System.
	Clock clock.Clock
}

// DefaultRetryable retries transport errors (a refused connection, a reset)
// and the answers that ask to try again: 429, 502, 503 and 504.
func DefaultRetryable(resp *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// DefaultIsFailure counts transport errors, 5xx answers and 429 against the
// host. Other 4xx answers are the client's problem, not the host's.
func DefaultIsFailure(resp *http.Response, err error) bool {
	return err != nil || resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
}

func invalid(field, format string, args ...any) error {
	return &config.Error{Package: "bwhttp", Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Transport is an http.RoundTripper that sends each request through a
// circuit breaker for its host and retries it while that is safe. It is
// safe for concurrent use.
//
// A request is retried only when it can be sent again: its method is
// idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) or it carries an
// Idempotency-Key header (or Config.RetryNonIdempotent is set), and its body
// can be replayed (no body, or Request.GetBody set, as http.NewRequest does
// for in-memory bodies). The bodies of answers that are retried are drained
// and closed, so connections are reused. When the attempts run out on an
// answer to retry, that answer is returned, as from any RoundTripper. A
// request turned away by an open circuit gets an error matching
// breaker.ErrOpen, not a made-up response.
type Transport struct {
	base      http.RoundTripper
	breakers  *registry.Registry[*breaker.Breaker]
	key       func(*http.Request) string
	retry     *retry.Policy
	hedge     *hedge.Policy
	shedding  breakwater.Shedding
	retryNonI bool
	retryable func(*http.Response, error) bool
	isFailure func(*http.Response, error) bool
	clock     clock.Clock

	attemptHeader string
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport described by cfg.
func NewTransport(cfg Config) (*Transport, error) {
	t := &Transport{
		base: cfg.Base, breakers: cfg.Breakers, key: cfg.Key, retry: cfg.Retry, hedge: cfg.Hedge, shedding: cfg.Shedding,
		retryNonI: cfg.RetryNonIdempotent, retryable: cfg.Retryable, isFailure: cfg.IsFailure, attemptHeader: cfg.AttemptHeader,
		clock: clock.Or(cfg.Clock),
	}
	switch {
	case cfg.NoBreaker && cfg.Breakers != nil:
		return nil, invalid("NoBreaker", "cannot be set together with Breakers")
	case cfg.NoRetry && cfg.Retry != nil:
		return nil, invalid("NoRetry", "cannot be set together with Retry")
	}
	var err error
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.breakers == nil && !cfg.NoBreaker {
		if t.breakers, err = breaker.NewRegistry(breaker.Config{}, 0); err != nil {
			return nil, err
		}
	}
	if t.key == nil {
		t.key = func(r *http.Request) string { return r.URL.Host }
	}
	if t.retry == nil && !cfg.NoRetry {
		if t.retry, err = retry.New(retry.Config{}); err != nil {
			return nil, err
		}
	}
	if t.retryable == nil {
		t.retryable = DefaultRetryable
	}
	if t.isFailure == nil {
		t.isFailure = DefaultIsFailure
	}
	return t, nil
}

// Breakers returns the registry of the transport's breakers, for a health
// handler or metrics; nil without breakers.
func (t *Transport) Breakers() *registry.Registry[*breaker.Breaker] { return t.breakers }

// NewClient returns an *http.Client whose transport is NewTransport(cfg)
// and whose Timeout, over all attempts and delays, is timeout (zero means
// none).
func NewClient(cfg Config, timeout time.Duration) (*http.Client, error) {
	t, err := NewTransport(cfg)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: t, Timeout: timeout}, nil
}

// RoundTrip sends req, retrying and breaking circuits as the Transport's
// doc describes. A request runs through the same stack users compose with
// breakwater.WrapWith: the retry policy (for a request that can be sent
// again) around the host's breaker, over the responses as Responses
// describes them. Each attempt's outcome is marked with how it counts for
// the breaker (IsFailure) and whether it is retried (Retryable), so that
// neither policy's own lists override the transport's rules. Like every
// RoundTripper, it closes the request's body on every path, errors
// included.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := call{t: t, req: req}
	defer c.closeBody()
	var policies []any
	switch {
	case !t.canRetry(req):
	case t.hedge != nil:
		policies = append(policies, t.hedge)
	case t.retry != nil:
		policies = append(policies, t.retry)
	}
	key := t.key(req)
	if t.breakers != nil {
		policies = append(policies, t.breakers.Get(key))
	}
	policies = append(policies, t.shedding.Policies(key)...)
	send, err := breakwater.WrapWith(c.attempt, Responses(t.failure), policies...)
	if err != nil {
		return nil, err
	}
	resp, err := send(req.Context())
	return resp, outcome.Unmark(err) // the marks were for the policies
}

// Responses is what a stack of HTTP calls knows about their responses,
// for breakwater.WrapWith: failure says which answers are failures (nil:
// none but errors); a response the stack does not return (retried, a
// hedge that lost, abandoned at a deadline, replaced by a fallback) is
// drained and closed; the body of the one it returns keeps its attempt's
// context, which closing the body ends. Without it, a per-attempt timeout
// or a hedge ends the attempt's context as the call returns, and the body
// reads nothing.
func Responses(failure func(*http.Response) error) breakwater.Results[*http.Response] {
	return breakwater.Results[*http.Response]{Failure: failure, Drop: dropAnswer, Keep: keepAnswer}
}

// failure says how an answer counts: nil for one that is neither a
// failure of the host nor retried; else a *StatusError marked with its
// verdict for the breaker and whether it is retried. A 503 that is a
// failure but carries a Retry-After is a server shedding load
// (outcome.Overloaded): the breaker does not count it, a throttle or an
// adaptive limit does, retries wait as asked. A 429 is this client over
// its quota, whatever it carries: a failure, for which a breaker may stay
// open as long as the Retry-After says (breaker.RetryAfter).
func (t *Transport) failure(resp *http.Response) error {
	failed, retried := t.isFailure(resp, nil), t.retryable(resp, nil)
	if !failed && !retried {
		return nil
	}
	after, hasAfter := t.retryAfter(resp)
	o := outcome.Success
	switch {
	case failed && hasAfter && resp.StatusCode == http.StatusServiceUnavailable:
		o = outcome.Overloaded // shedding, saying when to come back: alive
	case failed:
		o = outcome.Failure
	}
	var err error = outcome.Mark(&StatusError{Code: resp.StatusCode}, o)
	if !retried {
		return outcome.Permanent(err)
	}
	if hasAfter {
		err = outcome.After(after, err)
	}
	return outcome.Retryable(err)
}

// call is one RoundTrip: its request, and whether the request's own body
// has been handed to the base transport, which then closes it. Hedged
// attempts run at once: sent is guarded.
type call struct {
	t    *Transport
	req  *http.Request
	mu   sync.Mutex
	sent bool
}

// closeBody closes the request's body if no attempt handed it on.
func (c *call) closeBody() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.sent && c.req.Body != nil {
		c.req.Body.Close()
	}
}

// request returns the request of one more attempt, in ctx: the caller's
// own the first time, then a clone with a fresh body, the previous
// attempt's being spent.
func (c *call) request(ctx context.Context) (*http.Request, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.t.attemptHeader
	timeout := ""
	if d, ok := ctx.Deadline(); ok { // the server sheds what it cannot answer in time
		timeout = strconv.FormatInt(max(d.Sub(c.t.clock.Now()).Milliseconds(), 0), 10)
	}
	if !c.sent {
		c.sent = true
		switch {
		case h != "" || timeout != "":
			r := c.req.Clone(ctx) // the headers go on a copy, the body is the caller's
			if h != "" {
				r.Header.Set(h, "1")
			}
			if timeout != "" {
				r.Header.Set(TimeoutHeader, timeout)
			}
			return r, nil
		case ctx == c.req.Context():
			return c.req, nil
		}
		return c.req.WithContext(ctx), nil
	}
	r := c.req.Clone(ctx)
	if timeout != "" {
		r.Header.Set(TimeoutHeader, timeout)
	}
	if c.req.GetBody != nil && c.req.Body != nil && c.req.Body != http.NoBody {
		body, err := c.req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	if h != "" {
		r.Header.Set(h, strconv.Itoa(attempt.From(ctx).Number))
	}
	return r, nil
}

// dropAnswer drains and closes an answer the stack does not return.
func dropAnswer(resp *http.Response, _ error) {
	if resp != nil {
		drain(resp)
	}
}

// keepAnswer keeps the attempt's context until its answer's body is
// closed: ending it at once would cut the body off.
func keepAnswer(resp *http.Response, _ error, release func()) *http.Response {
	if resp == nil || resp.Body == nil {
		release()
		return resp
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp
}

// releasingBody ends its attempt's context once closed.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// attempt sends the request once more and returns its outcome. An error
// is marked with how it counts for the breaker (outcome.Mark) and
// whether it is retried (retry.Retryable or retry.Permanent); an answer is
// judged by failure, for every policy at once.
func (c *call) attempt(ctx context.Context) (*http.Response, error) {
	t := c.t
	r, err := c.request(ctx)
	if err != nil {
		// A body that cannot be replayed is not the host's outcome:
		// neither success nor failure.
		return nil, outcome.Permanent(outcome.Mark(err, outcome.Ignored))
	}
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		return resp, nil
	}
	mark := outcome.Permanent
	if t.retryable(nil, err) {
		mark = outcome.Retryable
	}
	o := outcome.Success
	switch {
	case errors.Is(err, context.Canceled):
		o = outcome.Ignored // the caller gave up: says nothing of the host
	case t.isFailure(nil, err):
		o = outcome.Failure
	}
	return nil, mark(outcome.Mark(err, o))
}

func (t *Transport) canRetry(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false // the body cannot be sent twice
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete, "":
		return true
	}
	return t.retryNonI || req.Header.Get("Idempotency-Key") != ""
}

// StatusError is what a breaker's hooks see (through errors.As) for an
// answer counted as a failure.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return strconv.Itoa(e.Code) + " " + http.StatusText(e.Code)
}

// retryAfter parses the Retry-After header of resp, in seconds or as an
// HTTP date. The retry policy caps what it asks for.
func (t *Transport) retryAfter(resp *http.Response) (time.Duration, bool) {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		const day = int64(24 * time.Hour / time.Second) // beyond any cap; no overflow
		return time.Duration(min(secs, day)) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(t.clock.Now()), 0), true
	}
	return 0, false
}

// drain reads what is left of an answer's body, up to a limit, and closes
// it, so that its connection can carry the next request.
func drain(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}
