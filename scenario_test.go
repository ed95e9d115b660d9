package breakwater_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/timeout"
)

// timeline collects what happens, stamped with the time since start.
type timeline struct {
	mu     sync.Mutex
	start  time.Time
	now    func() time.Time
	events []string
}

func (tl *timeline) add(format string, args ...any) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.events = append(tl.events, fmt.Sprintf("T+%v ", tl.now().Sub(tl.start))+fmt.Sprintf(format, args...))
}

// TestFlakyCallTimeline replays the timeline of a flaky call: 2 retries
// with 1 s then 2 s of backoff, each attempt limited to 2 s, around a
// breaker that opens on 2 failures and recovers after 20 s. The first call
// fails through 502 / timeout / 502 and opens the circuit; a call at
// T+10s is rejected at once; at T+35s the circuit is half-open, the call
// succeeds and the circuit closes.
//
// The breaker counts server errors only: a timed-out attempt says the
// server is slow, not that it is down, so it is ignored (Config.Ignore).
// Time is virtual (testing/synctest): the timeout and the retry delays run
// on different goroutines, and the bubble moves time only when all wait.
func TestFlakyCallTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tl := &timeline{start: time.Now(), now: time.Now}
		b, err := breaker.New(breaker.Config{
			Name: "payments-api", Trip: breaker.Consecutive(2), OpenDuration: 20 * time.Second,
			Ignore: []error{timeout.ErrTimeout},
			Hooks: breaker.Hooks{OnStateChange: func(c breaker.StateChange) {
				tl.add("circuit %v -> %v", c.From, c.To)
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := retry.New(retry.Config{
			MaxAttempts: 3, Delay: time.Second, Multiplier: 2, Jitter: retry.JitterNone,
			Hooks: retry.Hooks{OnRetry: func(_ context.Context, e retry.RetryEvent) {
				tl.add("attempt %d failed (%v), retry in %v", e.Attempt, e.Err, e.Delay)
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		perAttempt, err := timeout.New(timeout.Config{Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}

		replies := []string{"502", "hang", "502"} // then 200 for ever
		dependency := func(ctx context.Context) (string, error) {
			reply := "200"
			if len(replies) > 0 {
				reply, replies = replies[0], replies[1:]
			}
			tl.add("dependency called: %s", reply)
			switch reply {
			case "502":
				return "", errors.New("502 Bad Gateway")
			case "hang":
				<-ctx.Done()
				return "", ctx.Err()
			}
			return "paid", nil
		}
		pay, err := breakwater.Wrap(dependency, r, b, perAttempt)
		if err != nil {
			t.Fatal(err)
		}
		call := func(n int) {
			v, err := pay(context.Background())
			switch {
			case errors.Is(err, breaker.ErrOpen):
				tl.add("call %d rejected at once: %v", n, err)
			case err != nil:
				tl.add("call %d failed: %v", n, err)
			default:
				tl.add("call %d succeeded: %s", n, v)
			}
		}

		call(1)
		time.Sleep(time.Until(tl.start.Add(10 * time.Second)))
		call(2)
		time.Sleep(time.Until(tl.start.Add(35 * time.Second)))
		call(3)

		want := []string{
			"T+0s dependency called: 502",
			"T+0s attempt 1 failed (502 Bad Gateway), retry in 1s",
			"T+1s dependency called: hang",
			"T+3s attempt 2 failed (timeout: call took longer than 2s), retry in 2s",
			"T+5s dependency called: 502",
			"T+5s circuit closed -> open",
			"T+5s call 1 failed: retry: gave up after 3 attempts (retry: attempts exhausted): 502 Bad Gateway",
			`T+10s call 2 rejected at once: breaker "payments-api": circuit open`,
			"T+25s circuit open -> half-open",
			"T+35s dependency called: 200",
			"T+35s circuit half-open -> closed",
			"T+35s call 3 succeeded: paid",
		}
		if got := strings.Join(tl.events, "\n"); got != strings.Join(want, "\n") {
			t.Fatalf("timeline:\n%s\n\nwant:\n%s", got, strings.Join(want, "\n"))
		}
	})
}
