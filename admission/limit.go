package admission

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LimitConfig configures the concurrency limit, which follows Envoy's
// adaptive concurrency filter (its gradient controller):
//
//   - Every MinRTTInterval (60 s, plus up to 15 % of jitter), and at the
//     start, the limit is pinned to MinConcurrency (3) until MinRTTRequests
//     (50) requests admitted since have finished; their median latency is
//     minRTT, the server's latency without queueing.
//   - Every UpdateInterval (100 ms) with requests finished, the limit L
//     moves to L·g + √(L·g), where g = clamp(minRTT·(1+Buffer) / the
//     window's median latency, 0.5, 2) and Buffer is 0.25: the limit
//     grows while latency stays within 25 % of minRTT, and shrinks as
//     soon as requests queue inside the server. It does not grow past
//     twice the most requests in flight in the window: a server that is
//     not busy has not shown what it can take (Gradient2's rule).
//   - A limit that stays below twice Min, and full, for 20 updates in a
//     row (2 s) has minRTT measured at once, as Envoy does when its limit sits at the
//     minimum for 5 windows: the server's own latency may have grown
//     (slower disks, a slower dependency), or the last measurement drew
//     quick requests by chance (the median of 50 exponential service
//     times is off by a fifth one time in twenty), and the old minRTT
//     would hold the limit there for good.
//
// The periodic measurement is skipped when, since the last one, the limit
// has never been full with latency past the buffer: it would correct
// nothing, and pinning a server that is not queueing only sheds.
//
// Measuring minRTT afresh keeps the limit from drifting up with a baseline
// that learns queueing as normal (the drift a long-term average has).
// Critical requests are not pinned: they go on being admitted up to the
// limit in force before (their latencies count in minRTT like the others':
// while critical requests alone stay within the server's capacity, they
// add little queueing). A limit with Min equal to Max is fixed: no minRTT
// is measured.
type LimitConfig struct {
	// Min and Max bound the limit, in [1, 1e6]; zero means MinConcurrency
	// and 1,000 (Envoy's).
	Min, Max int
	// UpdateInterval is how often the limit moves; zero means 100 ms.
	UpdateInterval time.Duration
	// MinRTTInterval is how often minRTT is measured again; zero means
	// 60 s. MinRTTRequests is how many requests measure it, in [1, 1e6];
	// zero means 50. MinConcurrency is the limit while it is measured, in
	// [1, Max]; zero means 3.
	MinRTTInterval time.Duration
	MinRTTRequests int
	MinConcurrency int
	// Buffer is how much latency above minRTT is not queueing, in [0, 10];
	// zero means 0.25.
	Buffer float64
	// Rand returns numbers in [0, 1) for the jitter. Nil means math/rand/v2.
	Rand func() float64
}

// maxLimit bounds the limits and the queue.
const maxLimit = 1_000_000

func (c LimitConfig) checked() (LimitConfig, error) {
	for _, f := range []struct {
		name string
		v    int
	}{{"Limit.Min", c.Min}, {"Limit.Max", c.Max}, {"Limit.MinRTTRequests", c.MinRTTRequests}, {"Limit.MinConcurrency", c.MinConcurrency}} {
		if f.v < 0 || f.v > maxLimit {
			return c, invalid(f.name, "must be in [0, %d], got %d", maxLimit, f.v)
		}
	}
	switch {
	case c.UpdateInterval < 0 || c.UpdateInterval > time.Hour:
		return c, invalid("Limit.UpdateInterval", "must be in [0, 1h], got %v", c.UpdateInterval)
	case c.MinRTTInterval < 0 || c.MinRTTInterval > 24*time.Hour:
		return c, invalid("Limit.MinRTTInterval", "must be in [0, 24h], got %v", c.MinRTTInterval)
	case !(c.Buffer >= 0 && c.Buffer <= 10):
		return c, invalid("Limit.Buffer", "must be in [0, 10], got %v", c.Buffer)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if c.MinConcurrency == 0 {
		c.MinConcurrency = 3
		if c.Max > 0 {
			c.MinConcurrency = min(3, c.Max)
		}
	}
	if c.Min == 0 {
		c.Min = c.MinConcurrency
		if c.Max > 0 {
			c.Min = min(c.Min, c.Max)
		}
	}
	def(&c.Max, max(1000, c.Min))
	def(&c.MinRTTRequests, 50)
	switch {
	case c.Max < c.Min:
		return c, invalid("Limit.Max", "must not be below Limit.Min (%d), got %d", c.Min, c.Max)
	case c.MinConcurrency > c.Max:
		return c, invalid("Limit.MinConcurrency", "must not exceed Limit.Max (%d), got %d", c.Max, c.MinConcurrency)
	}
	if c.UpdateInterval == 0 {
		c.UpdateInterval = 100 * time.Millisecond
	}
	if c.MinRTTInterval == 0 {
		c.MinRTTInterval = time.Minute
	}
	if c.Buffer == 0 {
		c.Buffer = 0.25
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	return c, nil
}

// limiter is the concurrency limit: an atomic count of requests in flight
// against an atomic limit, moved by the gradient controller.
type limiter struct {
	cfg      LimitConfig
	inflight atomic.Int64
	limit    atomic.Int64
	critical atomic.Int64 // the limit of critical requests: limit, but for the pin

	mu        sync.Mutex
	estimate  float64         // the limit before rounding
	minRTT    time.Duration   // 0 until measured
	measuring bool            // the limit is pinned while minRTT is measured
	since     time.Duration   // when the measurement began: older requests do not count
	nextMin   time.Duration   // when to measure minRTT again
	window    []time.Duration // latencies of the current window
	windowEnd time.Duration
	peak      int64 // the most requests in flight in the window
	atMin     int   // updates in a row that left the limit full near Min
	queued    bool  // a window since minRTT was measured showed queueing at the limit
}

func newLimiter(cfg LimitConfig) *limiter {
	l := &limiter{cfg: cfg, estimate: float64(cfg.Min)}
	if cfg.Min == cfg.Max { // fixed
		l.limit.Store(int64(cfg.Max))
		l.critical.Store(int64(cfg.Max))
		return l
	}
	l.measuring = true
	l.limit.Store(int64(cfg.MinConcurrency))
	l.critical.Store(int64(cfg.MinConcurrency))
	return l
}

// tryAcquire takes a slot if fewer than the limit are in flight. It
// returns the requests in flight with it.
func (l *limiter) tryAcquire(critical bool) (int64, bool) {
	limit := &l.limit
	if critical {
		limit = &l.critical
	}
	if n := l.inflight.Add(1); n <= limit.Load() {
		return n, true
	}
	l.inflight.Add(-1)
	return 0, false
}

func (l *limiter) release() { l.inflight.Add(-1) }

// sample adds the latency of a request admitted at start and finished at
// now; failed says it failed, when it counts only if slower than minRTT.
func (l *limiter) sample(start, now time.Duration, inflight int64, failed bool) {
	rtt := now - start
	if l.cfg.Min == l.cfg.Max {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.measuring {
		if start < l.since || failed {
			return
		}
		l.window = append(l.window, rtt)
		if len(l.window) < l.cfg.MinRTTRequests {
			return
		}
		l.minRTT = max(median(l.window), time.Microsecond)
		l.window = l.window[:0]
		l.measuring, l.queued = false, false
		l.windowEnd = now + l.cfg.UpdateInterval
		jitter := time.Duration(l.cfg.Rand() * 0.15 * float64(l.cfg.MinRTTInterval))
		l.nextMin = now + l.cfg.MinRTTInterval + jitter
		if l.estimate < float64(l.cfg.MinConcurrency) { // the first measurement: start from there
			l.estimate = float64(l.cfg.MinConcurrency)
		}
		l.store()
		return
	}
	if failed && rtt < l.minRTT {
		return // a quick failure says nothing of queueing
	}
	l.window = append(l.window, rtt)
	l.peak = max(l.peak, inflight)
	if now < l.windowEnd {
		return
	}
	g := math.Max(0.5, math.Min(2, float64(l.minRTT)*(1+l.cfg.Buffer)/float64(median(l.window))))
	bound := l.peak >= l.limit.Load() // the limit held requests back
	l.queued = l.queued || g < 1 && bound
	next := l.estimate * g
	next += math.Sqrt(next)
	if next > l.estimate { // grow only as far as the load has shown
		next = math.Max(l.estimate, math.Min(next, 2*float64(l.peak)))
	}
	l.estimate = math.Max(float64(l.cfg.Min), math.Min(float64(l.cfg.Max), next))
	l.window, l.peak = l.window[:0], 0
	l.windowEnd = now + l.cfg.UpdateInterval
	if l.estimate < float64(2*l.cfg.Min) && bound {
		l.atMin++
	} else {
		l.atMin = 0
	}
	if now >= l.nextMin && !l.queued { // nothing to correct: pinning would only shed
		l.nextMin = now + l.cfg.MinRTTInterval + time.Duration(l.cfg.Rand()*0.15*float64(l.cfg.MinRTTInterval))
	}
	if now >= l.nextMin || l.atMin >= stuckUpdates { // measure minRTT again: pin the limit
		l.atMin = 0
		l.measuring, l.since = true, now
		l.limit.Store(int64(l.cfg.MinConcurrency))
		l.critical.Store(int64(l.estimate * criticalHeadroom))
		return
	}
	l.store()
}

// stuckUpdates is how many updates in a row the limit may stay below
// twice Min before minRTT is measured again.
const stuckUpdates = 20

// criticalHeadroom is how far above the limit critical requests are
// admitted, as Google's servers give higher criticalities higher
// thresholds: a limit that has just fallen, or is pinned, does not hold
// them back while the requests above it drain.
const criticalHeadroom = 1.5

// store publishes the estimate as the limit.
func (l *limiter) store() {
	l.limit.Store(int64(l.estimate))
	l.critical.Store(int64(l.estimate * criticalHeadroom))
}

// median sorts v and returns its median.
func median(v []time.Duration) time.Duration {
	slices.Sort(v)
	return v[len(v)/2]
}

// snapshot returns the limit and minRTT.
func (l *limiter) snapshot() (limit int, minRTT time.Duration, measuring bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit.Load()), l.minRTT, l.measuring
}
