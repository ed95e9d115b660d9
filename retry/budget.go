package retry

import (
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/clock"
)

// Defaults of a BudgetConfig's zero fields.
const (
	defaultBudgetMaxTokens  = 10
	defaultBudgetTokenRatio = 0.1
	// defaultMinRetriesPerSecond is the floor's rate: Finagle's and
	// Linkerd's is 10 a second; ours is lower so that the floor can never
	// be what sustains an overload (at 150 calls a second it is under 1 %
	// more attempts), while a test suite, a cron job or a CLI making a few
	// calls gets its retries.
	defaultMinRetriesPerSecond = 1
	// minRetriesWindow is how many seconds of the floor's retries may be
	// taken at once, as Finagle's 10-s ttl.
	minRetriesWindow = 10 * time.Second
)

// BudgetConfig describes a retry budget: a token bucket in the manner of
// gRPC's retry throttling. Every retryable failure takes one token, every
// success gives back TokenRatio, and retries are allowed only while more
// than half of MaxTokens are left.
//
// With the defaults (10 tokens, 0.1 per success) a budget behaves like no
// budget at all while failures are rare, and stops retries once more than
// about 1 call in 11 fails (0.1/(1+0.1) ≈ 9 %), so that a dependency's bad
// minute is not multiplied by the number of attempts. First attempts are
// never held back: only retries are.
//
// Below the token rule lies a floor, as in Finagle's and Linkerd's
// budgets: MinRetriesPerSecond retries are allowed whatever the tokens,
// up to 10 seconds' worth at once. Without it a caller making few
// calls (ten, each failing once) would lose its retries after the fifth,
// and, as tokens come back only with successes, could stay without them.
type BudgetConfig struct {
	// MaxTokens is the bucket's size, in (0, 1000]. Zero means 10.
	MaxTokens float64
	// TokenRatio is what a success gives back, in (0, 1]. Zero means 0.1.
	TokenRatio float64
	// MinRetriesPerSecond is the floor's rate, in (0, 1000]. Zero means 1.
	MinRetriesPerSecond float64
	// NoFloor turns the floor off: gRPC's token rule alone.
	NoFloor bool
	// Clock times the floor. Nil means clock.System; a retry.Policy's own
	// budget takes the policy's clock.
	Clock clock.Clock
}

// Budget is a retry budget, safe for concurrent use. One budget can be
// shared by many policies (Config.Budget), e.g. all calls to one service.
type Budget struct {
	max, ratio  int64 // in thousandths of a token
	tokensMilli atomic.Int64
	denied      atomic.Uint64

	// The floor, a token bucket in GCRA form: floorAt is when it is next
	// due, as an offset from origin; floorEvery the time between its
	// retries; 0 when there is no floor.
	clock      clock.Clock
	origin     time.Time
	floorEvery time.Duration
	floorAt    atomic.Int64
	floored    atomic.Uint64
}

// NewBudget returns a full budget, or a *config.Error naming a bad field.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	switch {
	case !(cfg.MaxTokens >= 0 && cfg.MaxTokens <= 1000):
		return nil, invalid("Budget.MaxTokens", "must be in (0, 1000], got %v", cfg.MaxTokens)
	case !(cfg.TokenRatio >= 0 && cfg.TokenRatio <= 1):
		return nil, invalid("Budget.TokenRatio", "must be in (0, 1], got %v", cfg.TokenRatio)
	case !(cfg.MinRetriesPerSecond >= 0 && cfg.MinRetriesPerSecond <= 1000):
		return nil, invalid("Budget.MinRetriesPerSecond", "must be in (0, 1000], got %v", cfg.MinRetriesPerSecond)
	case cfg.NoFloor && cfg.MinRetriesPerSecond != 0:
		return nil, invalid("Budget.NoFloor", "cannot be set together with MinRetriesPerSecond")
	}
	return newBudget(cfg), nil
}

func newBudget(cfg BudgetConfig) *Budget {
	if cfg.MaxTokens == 0 {
		cfg.MaxTokens = defaultBudgetMaxTokens
	}
	if cfg.TokenRatio == 0 {
		cfg.TokenRatio = defaultBudgetTokenRatio
	}
	if cfg.MinRetriesPerSecond == 0 {
		cfg.MinRetriesPerSecond = defaultMinRetriesPerSecond
	}
	b := &Budget{max: milli(cfg.MaxTokens), ratio: max(milli(cfg.TokenRatio), 1)}
	b.tokensMilli.Store(b.max)
	if !cfg.NoFloor {
		b.clock = clock.Or(cfg.Clock)
		b.origin = b.clock.Now()
		b.floorEvery = time.Duration(float64(time.Second) / cfg.MinRetriesPerSecond)
		b.floorAt.Store(int64(-minRetriesWindow)) // full
	}
	return b
}

func milli(f float64) int64 { return int64(f*1000 + 0.5) }

// BudgetMetrics is a snapshot of a budget, shared by every policy that
// uses it (each policy's Metrics counts its own denials).
type BudgetMetrics struct {
	// Tokens is the tokens left.
	Tokens float64
	// Denied counts the retries the budget turned down, Floored those the
	// floor allowed when the tokens would not have. They only grow.
	Denied, Floored uint64
}

// Metrics returns the budget's tokens and counters.
func (b *Budget) Metrics() BudgetMetrics {
	return BudgetMetrics{Tokens: b.tokens(), Denied: b.denied.Load(), Floored: b.floored.Load()}
}

func (b *Budget) tokens() float64 { return float64(b.tokensMilli.Load()) / 1000 }

// RecordSuccess gives back a fraction of a token for a successful call. A
// full bucket, the usual case, is only read, so that healthy calls do not
// contend on a write. Policies call it; code that retries by other means
// can too.
func (b *Budget) RecordSuccess() {
	for {
		t := b.tokensMilli.Load()
		if t >= b.max || b.tokensMilli.CompareAndSwap(t, min(t+b.ratio, b.max)) {
			return
		}
	}
}

// RecordFailure takes a token for a failed attempt.
func (b *Budget) RecordFailure() {
	for {
		t := b.tokensMilli.Load()
		if t <= 0 || b.tokensMilli.CompareAndSwap(t, max(t-1000, 0)) {
			return
		}
	}
}

// AllowRetry reports whether a retry may be made now, counting a denial
// when not.
func (b *Budget) AllowRetry() bool {
	if b.tokensMilli.Load()*2 > b.max {
		return true
	}
	if b.floorEvery > 0 && b.takeFloor() {
		b.floored.Add(1)
		return true
	}
	b.denied.Add(1)
	return false
}

// takeFloor takes one of the floor's retries, if one is there. The clock
// is read again before a refusal, as ratelimit's reserve does: callers
// that read it later may have moved the schedule past this reading.
func (b *Budget) takeFloor() bool { return b.takeFloorAt(b.clock.Since(b.origin)) }

// takeFloorAt is takeFloor with a reading of the clock taken earlier.
func (b *Budget) takeFloorAt(now time.Duration) bool {
	reread := false
	for {
		at := b.floorAt.Load()
		next := max(time.Duration(at), now-minRetriesWindow) + b.floorEvery
		if next > now {
			if !reread {
				reread, now = true, max(now, b.clock.Since(b.origin))
				continue
			}
			return false
		}
		if b.floorAt.CompareAndSwap(at, int64(next)) {
			return true
		}
	}
}
