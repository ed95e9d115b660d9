package stackfile_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/stackfile"
	"github.com/breakwater-go/breakwater/watch"
)

// liveFile is a file of a retry policy with a budget of its own, and a
// breaker, each in a stack; attempts and open vary.
func liveFile(attempts int, open string) string {
	return fmt.Sprintf(`{
	  "policies": {
	    "retries": {"retry": {"maxAttempts": %d, "delay": "1ms", "budget": {"maxTokens": 50}}},
	    "circuit": {"breaker": {"trip": {"consecutive": 1}, "openDuration": %q}},
	    "attempt": {"timeout": {"timeout": "1s"}}
	  },
	  "stacks": {"ok": ["retries", "attempt"], "guarded": ["circuit"]}
	}`, attempts, open)
}

// openLive keeps liveFile(3, "1m") in force, on a fake clock.
func openLive(t *testing.T) (string, *clocktest.Fake, *stackfile.Live) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "svc.json")
	write(t, path, liveFile(3, "1m"))
	clk := clocktest.NewFake(clocktest.Epoch)
	l, err := stackfile.Open(path, stackfile.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return path, clk, l
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A change applied while calls run flat out loses no call, and keeps an
// open circuit open; what is unchanged is the same policy, and a changed
// retry policy keeps its budget's tokens; an invalid file is refused and
// the configuration in force goes on.
func TestReloadUnderLoad(t *testing.T) {
	path, _, l := openLive(t)
	ctx := context.Background()
	boom := errors.New("boom")
	if err := l.Do(ctx, "guarded", func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	circuit := l.Set().Policy("circuit").(*breaker.Breaker)
	budget := l.Set().Policy("retries").(*retry.Policy).Budget()
	attempt := l.Set().Policy("attempt")
	if circuit.State() != breaker.Open {
		t.Fatal("the circuit did not open")
	}

	var calls, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wrapped := stackfile.Wrap(l, "ok", func(context.Context) (int, error) { return 1, nil })
	for g := range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if g%2 == 0 { // half compose the stack for each call, half once per configuration
					err = l.Do(ctx, "ok", func(context.Context) error { return nil })
				} else if v, werr := wrapped(ctx); werr != nil || v != 1 {
					err = fmt.Errorf("wrapped call: %d, %v", v, werr)
				}
				calls.Add(1)
				if err != nil {
					failed.Add(1)
				}
			}
		})
	}
	start := time.Now()
	const reloads = 50
	for i := range reloads {
		write(t, path, liveFile(2+i%3, fmt.Sprintf("%dm", 1+i%2)))
		if err := l.Reload(); err != nil {
			t.Fatal(err)
		}
		for before := calls.Load(); calls.Load() < before+100; { // calls run between reloads
			runtime.Gosched()
		}
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	rate := float64(calls.Load()) / elapsed.Seconds()
	t.Logf("%d calls in %v (%.0f a second) across %d reloads: %d failed", calls.Load(), elapsed.Round(time.Millisecond), rate, reloads, failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d calls failed across the reloads", failed.Load())
	}
	if rate < 10_000 {
		t.Logf("fewer than 10,000 calls a second on this machine (%.0f): the race detector, probably", rate)
	}
	now := l.Set()
	if b := now.Policy("circuit").(*breaker.Breaker); b == circuit || b.State() != breaker.Open {
		t.Fatalf("after changing its open duration the circuit is %v (same breaker: %v), want a new breaker, still open", b.State(), b == circuit)
	}
	if err := l.Do(ctx, "guarded", func(context.Context) error { t.Error("ran through an open circuit"); return nil }); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("guarded call: %v", err)
	}
	if now.Policy("attempt") != attempt {
		t.Error("an unchanged policy was built anew")
	}
	if got := now.Policy("retries").(*retry.Policy).Budget(); got != budget {
		t.Error("a changed retry policy lost its budget")
	}

	write(t, path, `{"policies": {"retries": {"retry": {"maxAttempts": "many"}}}}`)
	if err := l.Reload(); err == nil {
		t.Fatal("an invalid file was put in force")
	}
	if l.Set() != now || l.Do(ctx, "ok", func(context.Context) error { return nil }) != nil {
		t.Fatal("the refused file changed the configuration in force")
	}
	if m := l.Configuration(); m.Reloads != reloads || m.Refusals != 1 || m.LastRefusal == "" {
		t.Fatalf("metrics %+v", m)
	}
}

// Poll puts a changed file in force once per change, on its clock.
func TestPollReloadsAChangedFile(t *testing.T) {
	path, clk, l := openLive(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Poll(ctx, time.Second) }()
	tick := func() {
		t.Helper()
		if err := clk.WaitForTimers(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	tick()
	// The poll the tick woke is over once its next timer is set: a write
	// during its look at the file would be seen half done (truncated), and
	// then again whole, two reloads.
	if err := clk.WaitForTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	write(t, path, liveFile(5, "1m")+" ") // another size: seen whatever the file system's time resolution
	tick()
	tick() // the reload of the tick before has ended once this one's timer is set
	if m := l.Configuration(); m.Reloads != 1 {
		t.Fatalf("after one change: %+v", m)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// A Live reports the file in force for the dashboard: its path, reloads,
// and each policy's settings with the environment's overrides.
func TestLiveReportsItsConfiguration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svc.json")
	write(t, path, liveFile(3, "1m"))
	env := func() []string { return []string{"BREAKWATER_POLICIES_CIRCUIT_BREAKER_OPENDURATION=2m"} }
	var logged bytes.Buffer
	l, err := stackfile.Open(path, stackfile.Options{Env: env, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var list watch.List
	list.Add(l)
	write(t, path, "{")
	_ = l.Reload()
	if !strings.Contains(logged.String(), "configuration refused") || !strings.Contains(logged.String(), path) {
		t.Errorf("the refusal was not logged: %q", logged.String())
	}
	cs := list.Report().Configurations
	if len(cs) != 1 || cs[0].Origin != path || cs[0].Refusals != 1 || cs[0].LastRefusal == "" || len(cs[0].Policies) != 3 {
		t.Fatalf("%+v", cs)
	}
	c := cs[0].Policies[1]
	if c.Name != "circuit" || c.Kind != "breaker" || c.Settings != `{"breaker":{"openDuration":"1m","trip":{"consecutive":1}}}` ||
		len(c.Overrides) != 1 || c.Overrides[0] != "BREAKWATER_POLICIES_CIRCUIT_BREAKER_OPENDURATION=2m" {
		t.Fatalf("%+v", c)
	}
	if b := l.Set().Policy("circuit").(*breaker.Breaker); b.Config().OpenDuration != 2*time.Minute {
		t.Fatalf("the override is not in force: %v", b.Config().OpenDuration)
	}
}

// A wrapped function follows the configuration in force: a reload that
// changes its stack changes what its calls go through, and one that drops
// the stack fails them with ErrNoStack until the stack is back.
func TestWrapFollowsReloads(t *testing.T) {
	path, clk, l := openLive(t)
	attempts := 0
	call := stackfile.Wrap(l, "ok", func(context.Context) (int, error) { attempts++; return 0, errors.New("flaky") })
	run := func() error {
		var err error
		clk.Drive(func() { _, err = call(context.Background()) })
		return err
	}
	if run(); attempts != 3 {
		t.Fatalf("%d attempts, want the file's 3", attempts)
	}
	write(t, path, liveFile(2, "1m"))
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	if attempts = 0; run() == nil || attempts != 2 {
		t.Fatalf("after the reload: %d attempts, want 2", attempts)
	}
	write(t, path, `{"policies": {"t": {"timeout": {"timeout": "1s"}}}, "stacks": {"other": ["t"]}}`)
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := run(); !errors.Is(err, stackfile.ErrNoStack) {
		t.Fatalf("without the stack: %v", err)
	}
	write(t, path, liveFile(3, "1m"))
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	if attempts = 0; run() == nil || attempts != 3 {
		t.Fatalf("with the stack back: %d attempts", attempts)
	}
}

// A watch.List given the Live reports the policies in force, and follows
// a reload that replaces them, with counters that do not go back (those
// of a replaced policy as of the last report before the reload).
func TestWatchListFollowsReloads(t *testing.T) {
	path, clk, l := openLive(t)
	var list watch.List
	list.Add(l)
	fail := func(context.Context) error { return errors.New("flaky") }
	clk.Drive(func() { _ = l.Do(context.Background(), "ok", fail) })
	_ = l.Do(context.Background(), "guarded", fail)
	list.Report() // a scrape: what the list has seen of the policies it carries over

	write(t, path, liveFile(2, "2m")) // a new retry policy and a new breaker
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	old := l.Set().Policy("circuit").(*breaker.Breaker)
	if old.Metrics().Failures != 0 || old.State() != breaker.Open {
		t.Fatalf("the new breaker: %+v", old.Metrics())
	}
	r := list.Report()
	circuits, retries := r.Circuits, r.Retries
	if len(circuits) != 1 || circuits[0].Name != "circuit" || circuits[0].Failures != 1 || circuits[0].InState[breaker.Open] != 1 {
		t.Fatalf("circuits %+v", circuits)
	}
	if len(retries) != 1 || retries[0].Name != "retries" || retries[0].Calls != 1 || retries[0].Retries != 2 {
		t.Fatalf("retries %+v", retries)
	}
	clk.Drive(func() { _ = l.Do(context.Background(), "ok", fail) })
	if retries = list.Report().Retries; retries[0].Calls != 2 || retries[0].Retries != 3 {
		t.Fatalf("after a call through the new policy: %+v", retries)
	}
}

// A reload that changes a rate limit keeps the tokens it had spent: a
// limiter emptied before the reload is empty after it.
func TestReloadKeepsARateLimitsTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svc.json")
	file := func(rate int) string {
		return fmt.Sprintf(`{"policies": {"quota": {"rateLimit": {"rate": %d, "burst": 2}}}, "stacks": {"api": ["quota"]}}`, rate)
	}
	write(t, path, file(1))
	l, err := stackfile.Open(path, stackfile.Options{Clock: clocktest.NewFake(clocktest.Epoch)})
	if err != nil {
		t.Fatal(err)
	}
	ok := func(context.Context) error { return nil }
	for range 2 {
		if err := l.Do(context.Background(), "api", ok); err != nil {
			t.Fatal(err)
		}
	}
	write(t, path, file(2))
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := l.Do(context.Background(), "api", ok); !errors.Is(err, ratelimit.ErrLimited) {
		t.Fatalf("after the reload: %v, want the emptied bucket's ErrLimited", err)
	}
}

// Every kind that inherits what it learned does so while calls run
// through it: reloads that change each of them, under load and the race
// detector, fail no call.
func TestReloadUnderLoadInheritsEveryKind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svc.json")
	file := func(i int) string {
		return fmt.Sprintf(`{"policies": {
		  "hedged":   {"hedge": {"delay": "1h", "quantile": 0.99, "samples": %d, "minSamples": 10}},
		  "throttle": {"throttle": {"k": %d}},
		  "quota":    {"rateLimit": {"rate": 1000000, "burst": %d}},
		  "limit":    {"adaptive": {"initialLimit": %d}},
		  "circuit":  {"breaker": {"trip": {"countWindow": {"size": 50, "failureRate": 0.%d}}}}
		}, "stacks": {"api": ["hedged", "throttle", "quota", "circuit", "limit"]}}`, 100+i%3, 2+i%2, 1000+i%5, 50+i%7, 5+i%4)
	}
	write(t, path, file(0))
	l, err := stackfile.Open(path, stackfile.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var calls, failed atomic.Int64
	var first atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	api := stackfile.Wrap(l, "api", func(context.Context) (int, error) { return 1, nil })
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if v, err := api(context.Background()); err != nil || v != 1 {
					failed.Add(1)
					first.CompareAndSwap(nil, fmt.Sprint(v, err))
				}
				calls.Add(1)
			}
		})
	}
	for i := 1; i <= 30; i++ {
		write(t, path, file(i))
		if err := l.Reload(); err != nil {
			t.Fatal(err)
		}
		for before := calls.Load(); calls.Load() < before+100; {
			runtime.Gosched()
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d calls across 30 reloads of five kinds: %d failed", calls.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d calls failed, the first with %v", failed.Load(), first.Load())
	}
}
