package hedge_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/retry"
)

// attempts scripts the attempts of a call: each, when it starts, reports
// itself and waits for its answer, or for its context to end.
type attempts struct {
	started   chan int
	answers   []chan answer
	mu        sync.Mutex
	cancelled []int
}

type answer struct {
	v   string
	err error
	pan any
}

func newAttempts(n int) *attempts {
	a := &attempts{started: make(chan int, n)}
	for range n {
		a.answers = append(a.answers, make(chan answer, 1))
	}
	return a
}

func (a *attempts) fn() func(context.Context) (string, error) {
	var mu sync.Mutex
	next := 0
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		i := next
		next++
		mu.Unlock()
		a.started <- i
		select {
		case ans := <-a.answers[i]:
			if ans.pan != nil {
				panic(ans.pan)
			}
			return ans.v, ans.err
		case <-ctx.Done():
			a.mu.Lock()
			a.cancelled = append(a.cancelled, i)
			a.mu.Unlock()
			return "", ctx.Err()
		}
	}
}

func newPolicy(t *testing.T, cfg hedge.Config) (*hedge.Policy, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.NewFake(time.Unix(0, 0))
	cfg.Clock = clk
	p, err := hedge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, clk
}

type result struct {
	v   string
	err error
	pan any
}

func run(p *hedge.Policy, opts hedge.Options[string], fn func(context.Context) (string, error)) chan result {
	out := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			r.pan = recover()
			out <- r
		}()
		r.v, r.err = hedge.ExecuteWith(context.Background(), p, opts, fn)
	}()
	return out
}

func waitTimer(t *testing.T, clk *clocktest.Fake) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := clk.WaitForTimers(ctx, 1); err != nil {
		t.Fatal("the call never waited for its hedge delay")
	}
}

// After the delay with no answer, a hedge starts; its answer wins, and the
// first attempt is cancelled at once, its late result dropped.
func TestHedgeWinsAfterTheDelay(t *testing.T) {
	var events []string
	p, clk := newPolicy(t, hedge.Config{Name: "h", Delay: 50 * time.Millisecond, Hooks: hedge.Hooks{
		OnHedge: func(_ context.Context, e hedge.HedgeEvent) {
			events = append(events, fmt.Sprint("hedge ", e.Hedge, " ", e.After))
		},
		OnWin: func(_ context.Context, e hedge.HedgeEvent) { events = append(events, fmt.Sprint("win ", e.Hedge)) },
	}})
	a := newAttempts(2)
	dropped := make(chan string, 2)
	out := run(p, hedge.Options[string]{Drop: func(v string, _ error) { dropped <- v }}, a.fn())
	<-a.started
	waitTimer(t, clk)
	clk.Advance(49 * time.Millisecond)
	select {
	case <-a.started:
		t.Fatal("a hedge started before the delay")
	default:
	}
	clk.Advance(time.Millisecond)
	if n := <-a.started; n != 1 {
		t.Fatalf("attempt %d started, want the hedge (1)", n)
	}
	a.answers[1] <- answer{v: "hedge"}
	r := <-out
	if r.v != "hedge" || r.err != nil {
		t.Fatalf("got %q, %v; want the hedge's answer", r.v, r.err)
	}
	if v := <-dropped; v != "" {
		t.Errorf("dropped %q, want the cancelled first attempt's empty result", v)
	}
	if fmt.Sprint(a.cancelled) != "[0]" {
		t.Errorf("cancelled %v, want [0]", a.cancelled)
	}
	if m := p.Metrics(); m.Calls != 1 || m.Hedges != 1 || m.Won != 1 || m.Cancelled != 1 {
		t.Errorf("metrics %+v", m)
	}
	if got := strings.Join(events, "; "); got != "hedge 1 50ms; win 1" {
		t.Errorf("events %q", got)
	}
}

// A call that answers before the delay is never hedged.
func TestQuickCallIsNotHedged(t *testing.T) {
	p, _ := newPolicy(t, hedge.Config{Delay: time.Second})
	v, err := hedge.Execute(context.Background(), p, func(context.Context) (string, error) { return "ok", nil })
	if v != "ok" || err != nil {
		t.Fatal(v, err)
	}
	if m := p.Metrics(); m.Hedges != 0 || m.Cancelled != 0 {
		t.Errorf("metrics %+v", m)
	}
}

// Hedges start one delay apart, up to MaxHedges; the first answer wins
// and every other attempt is cancelled.
func TestAtMostMaxHedges(t *testing.T) {
	p, clk := newPolicy(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 2})
	a := newAttempts(3)
	out := run(p, hedge.Options[string]{}, a.fn())
	<-a.started
	for want := 1; want <= 2; want++ {
		waitTimer(t, clk)
		clk.Advance(10 * time.Millisecond)
		if n := <-a.started; n != want {
			t.Fatalf("attempt %d started, want %d", n, want)
		}
	}
	clk.Advance(time.Hour) // no third hedge: the metrics below count every one started
	a.answers[0] <- answer{v: "first"}
	if r := <-out; r.v != "first" {
		t.Fatalf("got %+v", r)
	}
	if m := p.Metrics(); m.Hedges != 2 || m.Won != 0 || m.Cancelled != 2 {
		t.Errorf("metrics %+v", m)
	}
}

type permanent struct{ error }

func (permanent) Permanent() bool { return true }

// A failure that may be retried starts the next hedge at once; one that
// may not ends the call, cancelling the others.
func TestFailures(t *testing.T) {
	p, clk := newPolicy(t, hedge.Config{Delay: time.Hour, MaxHedges: 2})
	a := newAttempts(3)
	out := run(p, hedge.Options[string]{}, a.fn())
	<-a.started
	waitTimer(t, clk)
	a.answers[0] <- answer{err: errors.New("503")} // retryable: the hedge starts without waiting an hour
	if n := <-a.started; n != 1 {
		t.Fatalf("attempt %d started", n)
	}
	a.answers[1] <- answer{err: permanent{errors.New("400")}}
	r := <-out
	if r.err == nil || r.err.Error() != "400" {
		t.Fatalf("got %+v, want the permanent failure", r)
	}
	if m := p.Metrics(); m.Hedges != 1 {
		t.Errorf("metrics %+v: a permanent failure must stop hedging", m)
	}
}

// When every attempt fails, the call fails with the last failure.
func TestAllFail(t *testing.T) {
	p, _ := newPolicy(t, hedge.Config{Delay: time.Hour, MaxHedges: 1})
	n := 0
	_, err := hedge.Execute(context.Background(), p, func(context.Context) (string, error) {
		n++
		return "", fmt.Errorf("fail %d", n)
	})
	if err == nil || err.Error() != "fail 2" {
		t.Fatalf("err = %v, want the last failure", err)
	}
}

// The budget bounds hedges to a share of calls, and a gate that rejects
// (a breaker open) stops them.
func TestBudgetAndGate(t *testing.T) {
	p, _ := newPolicy(t, hedge.Config{Delay: time.Hour, BudgetBurst: 1, BudgetRatio: 0.1})
	failing := func(context.Context) (string, error) { return "", errors.New("503") }
	for range 3 {
		_, _ = hedge.Execute(context.Background(), p, failing)
	}
	if m := p.Metrics(); m.Hedges != 1 || m.BudgetDenied != 2 {
		t.Errorf("metrics %+v: want 1 hedge from the burst, 2 denied", m)
	}
	for range 10 { // ten calls earn one hedge
		_, _ = hedge.Execute(context.Background(), p, func(context.Context) (string, error) { return "ok", nil })
	}
	_, _ = hedge.Execute(context.Background(), p, failing)
	if m := p.Metrics(); m.Hedges != 2 {
		t.Errorf("metrics %+v: ten calls should have earned a hedge", m)
	}

	g, _ := newPolicy(t, hedge.Config{Delay: time.Hour})
	closed := errors.New("open")
	_, _ = hedge.ExecuteWith(context.Background(), g, hedge.Options[string]{Gate: func() (time.Duration, error) { return time.Second, closed }}, failing)
	if m := g.Metrics(); m.Hedges != 0 {
		t.Errorf("hedged through a rejecting gate: %+v", m)
	}
}

// A panic in one attempt ends the call with that panic on the caller's
// goroutine; the other attempts are cancelled.
func TestPanicInAnAttempt(t *testing.T) {
	p, clk := newPolicy(t, hedge.Config{Delay: 10 * time.Millisecond})
	a := newAttempts(2)
	out := run(p, hedge.Options[string]{}, a.fn())
	<-a.started
	waitTimer(t, clk)
	clk.Advance(10 * time.Millisecond)
	<-a.started
	a.answers[1] <- answer{pan: "boom"}
	r := <-out
	if s, _ := r.pan.(string); !strings.Contains(s, "boom") {
		t.Fatalf("recovered %v, want the attempt's panic", r.pan)
	}
}

// With a quantile, the delay becomes the observed latency's quantile once
// enough calls are known.
func TestQuantileDelay(t *testing.T) {
	p, clk := newPolicy(t, hedge.Config{Delay: time.Second, Quantile: 0.9, Samples: 100, MinSamples: 10})
	noHedges := hedge.Options[string]{Gate: func() (time.Duration, error) { return 0, errors.New("no hedges here") }}
	for i := 1; i <= 100; i++ {
		_, _ = hedge.ExecuteWith(context.Background(), p, noHedges, func(context.Context) (string, error) {
			clk.Advance(time.Duration(i) * time.Millisecond) // latencies 1..100 ms
			return "ok", nil
		})
	}
	if m := p.Metrics(); m.Delay != 90*time.Millisecond {
		t.Errorf("delay %v, want the p90 of 1..100 ms: 90ms", m.Delay)
	}
}

func TestInvalidConfig(t *testing.T) {
	for _, cfg := range []hedge.Config{
		{},
		{Delay: -1},
		{Delay: 1, MaxHedges: 11},
		{Delay: 1, Quantile: 1},
		{Delay: 1, Samples: 10, MinSamples: 11},
		{Delay: 1, BudgetRatio: 2},
		{Delay: 1, BudgetBurst: -1},
	} {
		if _, err := hedge.New(cfg); !errors.Is(err, config.ErrInvalid) {
			t.Errorf("%+v: err = %v", cfg, err)
		}
	}
}

// A hook or Drop that panics ends the call with its panic, and no attempt
// outlives it: each is cancelled (the leak check of TestMain sees to it).
func TestPanickingCallbacksLeaveNoAttemptRunning(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  hedge.Config
		opts hedge.Options[string]
		fail bool // the first attempt fails, so Drop is called on the caller's goroutine
	}{
		{"OnHedge", hedge.Config{Hooks: hedge.Hooks{OnHedge: func(context.Context, hedge.HedgeEvent) { panic("hook") }}}, hedge.Options[string]{}, false},
		{"Drop", hedge.Config{MaxHedges: 2}, hedge.Options[string]{Drop: func(string, error) { panic("drop") }}, true},
		{"Keep", hedge.Config{}, hedge.Options[string]{Keep: func(string, error, func()) string { panic("keep") }}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Delay = 10 * time.Millisecond
			p, clk := newPolicy(t, tt.cfg)
			a := newAttempts(3)
			out := run(p, tt.opts, a.fn())
			<-a.started
			waitTimer(t, clk)
			if tt.fail {
				a.answers[0] <- answer{err: errors.New("503")} // hedge 1 at once
				<-a.started
				a.answers[1] <- answer{err: errors.New("503")} // hedge 2 at once, dropping attempt 0
			} else {
				clk.Advance(10 * time.Millisecond)
				if tt.name == "Keep" {
					<-a.started
					a.answers[1] <- answer{v: "won"}
				}
			}
			if r := <-out; r.pan == nil {
				t.Fatalf("got %+v, want the callback's panic", r)
			}
			if tt.fail {
				a.answers[2] <- answer{v: "late"} // the last hedge, cancelled, dropped off the caller's goroutine
				for deadline := time.Now().Add(5 * time.Second); p.Metrics().DropPanics == 0; {
					if time.Now().After(deadline) {
						t.Fatal("the panicking Drop of a loser was not counted")
					}
					runtime.Gosched()
				}
			}
		})
	}
}

// A *retry.Budget shared as Config.Budget is spent by the hedged calls'
// failed attempts: a failing dependency empties it, hedging stops, and so
// do the retries of a policy sharing it; successes refill it.
func TestSharedRetryBudget(t *testing.T) {
	budget, err := retry.NewBudget(retry.BudgetConfig{MaxTokens: 4, TokenRatio: 0.5, NoFloor: true})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newPolicy(t, hedge.Config{Delay: time.Hour, Budget: budget})
	failing := func(context.Context) (string, error) { return "", errors.New("503") }
	for range 3 {
		_, _ = hedge.Execute(context.Background(), p, failing)
	}
	// 4 tokens; a hedge needs more than half. Call 1: its attempt fails (3),
	// the hedge starts and fails (2); then every attempt is denied a hedge.
	if m := p.Metrics(); m.Hedges != 1 || m.BudgetDenied != 2 {
		t.Errorf("metrics %+v: want 1 hedge, 2 denied", m)
	}
	r, _ := retry.New(retry.Config{Budget: budget, MaxAttempts: 3, Delay: time.Nanosecond})
	tries := 0
	_ = r.Do(context.Background(), func(context.Context) error { tries++; return errors.New("503") })
	if tries != 1 {
		t.Errorf("the retry policy sharing the emptied budget made %d attempts, want 1", tries)
	}
	for range 8 {
		_, _ = hedge.Execute(context.Background(), p, func(context.Context) (string, error) { return "ok", nil })
	}
	if got := budget.Metrics().Tokens; got != 4 {
		t.Errorf("tokens after 8 successes = %v, want 4", got)
	}
}

// Every ratio the config accepts is honoured: a ratio of 1/2000 earns a
// hedge every 2,000 calls, not none.
func TestSmallBudgetRatioIsHonoured(t *testing.T) {
	for _, tt := range []struct {
		ratio float64
		calls int
		want  uint64
	}{
		{0.0005, 10_000, 5}, // the burst's 1, then one per 2,000 calls
		{1e-6, 1_000_000, 2},
		{0.3, 100, 25}, // a burst of 1 caps what a call earns: one hedge every 4 calls
	} {
		p, err := hedge.New(hedge.Config{Delay: time.Millisecond, BudgetRatio: tt.ratio, BudgetBurst: 1})
		if err != nil {
			t.Fatal(err)
		}
		var hedges uint64
		for range tt.calls {
			// Each call takes what it earned, if a whole hedge is there.
			if p.TakeBudgetForTest() {
				hedges++
			}
		}
		if hedges != tt.want {
			t.Errorf("ratio %v over %d calls: %d hedges, want %d", tt.ratio, tt.calls, hedges, tt.want)
		}
	}
	if _, err := hedge.New(hedge.Config{Delay: time.Millisecond, BudgetRatio: 1e-7}); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("ratio 1e-7: %v, want config.ErrInvalid", err)
	}
}
