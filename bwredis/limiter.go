package bwredis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/registry"
	"github.com/breakwater-go/breakwater/watch"
	"github.com/redis/go-redis/v9"
)

// LimiterConfig describes a Limiter: a rate limit shared by every process
// that uses the same Redis (and Prefix) and limiter name, as a third-party
// API's quota is shared by every pod that calls it.
type LimiterConfig struct {
	// Client talks to Redis; it is required. Its ContextTimeoutEnabled
	// option must be set, so that Timeout bounds socket reads and writes.
	Client redis.UniversalClient
	// Prefix namespaces the keys. Zero means "breakwater".
	Prefix string
	// Timeout bounds every Redis call. Zero means 100 ms.
	Timeout time.Duration
	// Limit is the shared limit: Name (which limiters share it), Rate,
	// Burst, MaxWait and Hooks, as for a ratelimit.Limiter. Its Clock only
	// times waits: when a token is there is decided by Redis's clock, the
	// same for every process.
	Limit ratelimit.Config
	// Fallback decides while Redis cannot be reached (it is tried again
	// every Timeout): a local limiter at this process's share of the rate
	// (say Rate divided by the replicas) keeps serving, failing open to
	// that share. Nil means failing closed: calls are turned away with an
	// error matching ErrUnavailable (and ratelimit.ErrLimited).
	Fallback *ratelimit.Limiter
	// Logger receives the warning when Redis becomes unreachable and the
	// notice when it is back. Nil means slog.Default().
	Logger *slog.Logger
}

// ErrUnavailable is matched by the error of a call that a Limiter without
// a Fallback turned away because Redis could not be reached.
var ErrUnavailable = errors.New("bwredis: Redis unavailable")

// unavailableError is a call turned away for want of Redis: a rejection
// that matches ErrUnavailable and ratelimit.ErrLimited.
type unavailableError struct {
	name  string
	cause error
}

func (e *unavailableError) Error() string {
	return "bwredis: rate limit " + strconv.Quote(e.name) + ": Redis unavailable, failing closed: " + e.cause.Error()
}

func (e *unavailableError) Is(target error) bool {
	return target == ErrUnavailable || target == ratelimit.ErrLimited
}

func (e *unavailableError) Unwrap() error { return e.cause }

// Rejected reports true: the call was turned away without running.
func (e *unavailableError) Rejected() bool { return true }

// Limiter is a rate limit whose state lives in Redis: a GCRA schedule
// (the token bucket of package ratelimit) in one key, advanced by one
// script on Redis's clock, so that every process's calls draw from one
// bucket of Limit.Burst tokens refilled at Limit.Rate. Every call makes
// one round trip. It has ratelimit.Limiter's shape (Allow, Wait, Do,
// Metrics), is a breakwater.Policy, and is safe for concurrent use.
//
// A wait its caller abandons keeps its token spent: the shared schedule
// cannot step back past reservations other processes made since, so the
// rate errs low, never high.
type Limiter struct {
	cfg      LimiterConfig
	key      string
	interval int64 // µs between tokens
	tau      int64 // µs the schedule may run ahead of now: (Burst-1) intervals

	down    atomic.Int64 // Unix ns until which Redis is not tried; 0 while it answers
	probing atomic.Bool  // a call is trying Redis again
	lost    atomic.Bool  // Redis is unreachable (for the log and Metrics)

	allowed, rejected, errs atomic.Uint64
	waiting                 atomic.Int64
	tokens                  atomic.Uint64 // math.Float64bits of the tokens left after the last call
}

// NewLimiter returns a limiter described by cfg, or a *config.Error.
func NewLimiter(cfg LimiterConfig) (*Limiter, error) {
	cfg, err := cfg.checked()
	if err != nil {
		return nil, err
	}
	return newLimiter(cfg), nil
}

func newLimiter(cfg LimiterConfig) *Limiter {
	interval := max(int64(math.Round(1e6/cfg.Limit.Rate)), 1)
	l := &Limiter{cfg: cfg, key: cfg.Prefix + ":{" + tagOf(cfg.Limit.Name) + "}:rate",
		interval: interval, tau: int64(cfg.Limit.Burst-1) * interval}
	l.tokens.Store(math.Float64bits(float64(cfg.Limit.Burst)))
	return l
}

func (cfg LimiterConfig) checked() (LimiterConfig, error) {
	if cfg.Client == nil {
		return cfg, invalid("Client", "is nil")
	}
	if o, ok := clientOptions(cfg.Client); ok && !o {
		return cfg, invalid("Client", "must have ContextTimeoutEnabled set, so that Timeout bounds every call")
	}
	switch {
	case cfg.Timeout < 0:
		return cfg, invalid("Timeout", "must not be negative, got %v", cfg.Timeout)
	case strings.ContainsAny(cfg.Prefix, "{}"):
		return cfg, invalid("Prefix", "must not contain braces, got %q", cfg.Prefix)
	}
	// The limit's own checks, by the package that owns them.
	if _, err := ratelimit.New(cfg.Limit); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return cfg, invalid("Limit."+ce.Field, "%s", ce.Reason)
		}
		return cfg, err
	}
	// Redis counts microseconds: a rate above a million a second would
	// round to no interval at all.
	if cfg.Limit.Rate > 1e6 {
		return cfg, invalid("Limit.Rate", "must be at most 1e6 calls a second for a shared limit, got %v", cfg.Limit.Rate)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 100 * time.Millisecond
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "breakwater"
	}
	if cfg.Limit.Burst == 0 {
		cfg.Limit.Burst = 1
	}
	cfg.Limit.Clock = clock.Or(cfg.Limit.Clock)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// clientOptions reports whether c bounds its calls by their contexts; ok
// is false for a client whose options it cannot read.
func clientOptions(c redis.UniversalClient) (contextTimeouts, ok bool) {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled, true
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled, true
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled, true
	}
	return false, false
}

// Name returns the limiter's name.
func (l *Limiter) Name() string { return l.cfg.Limit.Name }

// take asks Redis for a token that is there within limit, and returns
// how long to wait for it. ok is false when it would come later (nothing
// is taken then); local is true when Redis cannot be asked now: the
// caller goes to the Fallback, or is turned away with err.
func (l *Limiter) take(parent context.Context, limit time.Duration) (wait time.Duration, ok, local bool, err error) {
	if !l.tryRedis() {
		return 0, false, true, l.unavailable(errors.New("not answering"))
	}
	ctx, cancel := context.WithTimeout(parent, l.cfg.Timeout)
	defer cancel()
	limitUS := min(max(limit.Microseconds(), 0), 1e15) // 31 years: exact in Lua's doubles
	v, rerr := takeScript.Run(ctx, l.cfg.Client, []string{l.key}, l.interval, l.tau, limitUS).Int64Slice()
	l.probing.Store(false)
	if rerr != nil || len(v) != 3 {
		if rerr == nil {
			rerr = fmt.Errorf("unexpected reply %v", v)
		}
		if perr := parent.Err(); perr != nil {
			return 0, false, false, perr // the caller gave up: Redis is not to blame
		}
		l.errs.Add(1)
		l.markDown(rerr)
		return 0, false, true, l.unavailable(rerr)
	}
	l.markUp()
	l.tokens.Store(math.Float64bits(float64(v[2]) / float64(l.interval)))
	return time.Duration(v[1]) * time.Microsecond, v[0] == 1, false, nil
}

// tryRedis reports whether to ask Redis: while it answers, always; after
// it failed, once every Timeout, one call at a time.
func (l *Limiter) tryRedis() bool {
	until := l.down.Load()
	if until == 0 {
		return true
	}
	if time.Now().UnixNano() < until {
		return false
	}
	return l.probing.CompareAndSwap(false, true)
}

func (l *Limiter) markDown(err error) {
	l.down.Store(time.Now().Add(l.cfg.Timeout).UnixNano())
	if !l.lost.Swap(true) {
		mode := watch.ModeClosed
		if l.cfg.Fallback != nil {
			mode = watch.ModeLocal
		}
		l.cfg.Logger.Warn("bwredis: Redis unreachable; the shared rate limit goes on without it",
			"limiter", l.cfg.Limit.Name, "mode", mode, "err", err)
	}
}

func (l *Limiter) markUp() {
	if l.down.Load() != 0 {
		l.down.Store(0)
	}
	if l.lost.Load() && l.lost.Swap(false) {
		l.cfg.Logger.Info("bwredis: Redis answers again; the rate limit is shared again", "limiter", l.cfg.Limit.Name)
	}
}

func (l *Limiter) unavailable(cause error) error {
	if l.cfg.Fallback != nil {
		return nil
	}
	return &unavailableError{name: l.cfg.Limit.Name, cause: cause}
}

// Allow reports whether a call may go through now, taking a token if so.
func (l *Limiter) Allow() bool {
	_, ok, local, err := l.take(context.Background(), 0)
	switch {
	case local && err == nil:
		ok = l.cfg.Fallback.Allow()
	case local:
		ok = false
	}
	if ok {
		l.allowed.Add(1)
	} else {
		l.rejected.Add(1)
	}
	return ok
}

// Wait waits for a token, and returns nil once the call may go through.
// It returns an error matching ratelimit.ErrLimited at once, without
// taking a token, when the token would come after the context's
// deadline; the context's error if it ends while waiting.
func (l *Limiter) Wait(ctx context.Context) error {
	limit := time.Duration(math.MaxInt64)
	if d, ok := ctx.Deadline(); ok {
		limit = d.Sub(l.cfg.Limit.Clock.Now())
	}
	return l.wait(ctx, limit, l.cfg.Fallback.Wait)
}

// Do runs fn once a token is there, waiting for it at most Limit.MaxWait
// (and never past the context's deadline). It returns fn's error, or an
// error matching ratelimit.ErrLimited without calling fn.
func (l *Limiter) Do(ctx context.Context, fn func(context.Context) error) error {
	if err := l.admit(ctx); err != nil {
		return err
	}
	return fn(ctx)
}

// Apply makes the limiter a policy of a breakwater stack: it bounds the
// rate of calls to the layers inside it, as a *ratelimit.Limiter does.
func (l *Limiter) Apply(next breakwater.Next) breakwater.Next {
	return func(ctx context.Context, c breakwater.Call) error {
		if err := l.admit(ctx); err != nil {
			return err
		}
		return next(ctx, c)
	}
}

// admit waits for a token as Do does.
func (l *Limiter) admit(ctx context.Context) error {
	limit := l.cfg.Limit.MaxWait
	if d, ok := ctx.Deadline(); ok && limit > 0 {
		limit = min(limit, d.Sub(l.cfg.Limit.Clock.Now()))
	}
	return l.wait(ctx, limit, func(ctx context.Context) error {
		return l.cfg.Fallback.Do(ctx, func(context.Context) error { return nil })
	})
}

// wait takes a token within limit, or has fallback decide while Redis
// cannot be asked.
func (l *Limiter) wait(ctx context.Context, limit time.Duration, fallback func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	wait, ok, local, err := l.take(ctx, limit)
	switch {
	case local && err == nil:
		err = fallback(ctx)
		l.count(err == nil)
		return err
	case err != nil:
		l.count(false)
		return err
	case !ok:
		l.count(false)
		if f := l.cfg.Limit.Hooks.OnReject; f != nil {
			f(ctx, ratelimit.RejectEvent{Name: l.cfg.Limit.Name, RetryIn: wait})
		}
		return &outcome.RejectedError{Err: ratelimit.ErrLimited, Name: l.cfg.Limit.Name, After: wait}
	}
	if wait > 0 {
		l.waiting.Add(1)
		err := clock.Sleep(ctx, l.cfg.Limit.Clock, wait)
		l.waiting.Add(-1)
		if err != nil {
			return err
		}
	}
	l.allowed.Add(1)
	return nil
}

func (l *Limiter) count(allowed bool) {
	if allowed {
		l.allowed.Add(1)
	} else {
		l.rejected.Add(1)
	}
}

// LimiterMetrics is a snapshot of a Limiter. The counters only grow.
type LimiterMetrics struct {
	Name  string
	Rate  float64
	Burst int
	// Tokens is what the shared bucket held after this process's last call.
	Tokens float64
	// Allowed and Rejected count this process's calls let through and
	// turned away, by Redis or by the Fallback.
	Allowed, Rejected uint64
	// Errors counts failed Redis calls.
	Errors uint64
	// Mode says how the limiter decides now: watch.ModeShared while Redis
	// answers, watch.ModeLocal while the Fallback decides, watch.ModeClosed
	// while calls are turned away for want of Redis.
	Mode string
}

// Metrics returns a snapshot of the limiter.
func (l *Limiter) Metrics() LimiterMetrics {
	mode := watch.ModeShared
	switch {
	case l.lost.Load() && l.cfg.Fallback != nil:
		mode = watch.ModeLocal
	case l.lost.Load():
		mode = watch.ModeClosed
	}
	return LimiterMetrics{Name: l.cfg.Limit.Name, Rate: l.cfg.Limit.Rate, Burst: l.cfg.Limit.Burst,
		Tokens: math.Float64frombits(l.tokens.Load()), Allowed: l.allowed.Load(), Rejected: l.rejected.Load(),
		Errors: l.errs.Load(), Mode: mode}
}

// Report returns what package watch reports of the limiter (see
// watch.List.Add): a rate limit with its Mode.
func (l *Limiter) Report() []watch.Limiter {
	m := l.Metrics()
	return []watch.Limiter{{Kind: watch.KindRateLimit, Name: m.Name, Admitted: m.Allowed, Rejected: m.Rejected,
		Tokens: m.Tokens, Mode: m.Mode}}
}

// LimiterRegistryConfig describes a LimiterRegistry.
type LimiterRegistryConfig struct {
	// Defaults is the LimiterConfig of every limiter, each named by its
	// key (Defaults.Limit.Name is ignored).
	Defaults LimiterConfig
	// Fallbacks, when not nil, gives each limiter its Fallback: the local
	// limiter of its key, at this process's share of the rate. It replaces
	// Defaults.Fallback, which must then be nil.
	Fallbacks *registry.Registry[*ratelimit.Limiter]
	// MaxKeys bounds the limiters kept. Zero means 10,000. Forgetting one
	// loses only this process's counts of it (the limit is in Redis); one
	// with callers waiting for a token is never forgotten.
	MaxKeys int
}

// LimiterRegistry keeps a shared rate limit per key (per tenant, per API
// account). It is safe for concurrent use; looking up an existing limiter
// takes no lock. It is a registry.Registry that reports its limiters to a
// watch.List.
type LimiterRegistry struct{ *registry.Registry[*Limiter] }

// NewLimiterRegistry returns a registry described by cfg, or a
// *config.Error.
func NewLimiterRegistry(cfg LimiterRegistryConfig) (*LimiterRegistry, error) {
	d, err := cfg.Defaults.checked()
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.MaxKeys < 0 || cfg.MaxKeys > maxCount:
		return nil, invalid("MaxKeys", "must be in [0, %d], got %d", maxCount, cfg.MaxKeys)
	case cfg.Fallbacks != nil && d.Fallback != nil:
		return nil, invalid("Defaults.Fallback", "must be nil when Fallbacks is set: each key has its own")
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = 10_000
	}
	r, err := registry.New(registry.Config[*Limiter]{
		MaxKeys: cfg.MaxKeys,
		New: func(key string) *Limiter {
			c := d
			c.Limit.Name = key
			if cfg.Fallbacks != nil {
				c.Fallback = cfg.Fallbacks.Get(key)
			}
			return newLimiter(c)
		},
		Held: func(l *Limiter) bool { return l.waiting.Load() > 0 },
	})
	if err != nil {
		return nil, err
	}
	return &LimiterRegistry{r}, nil
}

// Report returns what package watch reports of the registry's limiters
// (see watch.List.Add).
func (r *LimiterRegistry) Report() []watch.Limiter {
	var out []watch.Limiter
	for _, l := range r.All() {
		out = append(out, l.Report()...)
	}
	return out
}
