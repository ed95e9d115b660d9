package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/timeout"
)

const demoUsage = `Usage: breakwater demo [--speed N]

Starts a flaky HTTP server on 127.0.0.1 and calls it through retry (3
attempts, 1 s then 2 s of backoff, 2 s per attempt) around a circuit breaker
(opens on 2 server errors, recovers after 20 s), printing a timeline of
attempts, delays and state changes. The server answers 502, then hangs,
then 502, then recovers. The breaker counts server errors only: an attempt
that times out counts as neither success nor failure (slow is not down).
Time runs N times faster than the wall clock: the timeline shows demo time.
`

func demo(args []string, stdout, stderr io.Writer) int {
	c := newCommand("demo", demoUsage)
	speed := c.fs.Float64("speed", 20, "how many times faster than the wall clock time runs")
	if status, done := c.parse(args, stdout, stderr); done {
		return status
	}
	if c.fs.NArg() > 0 {
		return c.fail(stderr, "unexpected argument %q", c.fs.Arg(0))
	}
	if !(*speed >= 1 && *speed <= 1000) {
		return c.fail(stderr, "--speed must be between 1 and 1000, got %v", *speed)
	}
	if err := runDemo(stdout, *speed); err != nil {
		fmt.Fprintln(stderr, "breakwater demo:", err)
		return 1
	}
	return 0
}

// statusError is an HTTP answer other than 2xx.
type statusError struct{ code int }

func (e *statusError) Error() string {
	return fmt.Sprintf("%d %s", e.code, http.StatusText(e.code))
}

func runDemo(w io.Writer, speed float64) error {
	clk := newScaledClock(speed)
	var mu sync.Mutex // the server and the client both print
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "T+%5.1fs  %s\n", clk.Since(clk.start).Seconds(), fmt.Sprintf(format, args...))
	}

	// The flaky server.
	replies := []string{"502", "hang", "502"} // then 200
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reply := "200"
		if len(replies) > 0 {
			reply, replies = replies[0], replies[1:]
		}
		mu.Unlock()
		switch reply {
		case "502":
			say("    server: 502 Bad Gateway")
			rw.WriteHeader(http.StatusBadGateway)
		case "hang":
			say("    server: (hangs)")
			<-r.Context().Done()
		default:
			say("    server: 200 OK")
			io.WriteString(rw, "charged")
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/charge"
	say("flaky server listening on %s (time runs %g× faster than the wall clock)", url, speed)
	say("the breaker counts server errors; a timed-out attempt counts as neither success nor failure")

	// The policies.
	b, err := breaker.New(breaker.Config{
		Name: "payments-api", Trip: breaker.Consecutive(2), OpenDuration: 20 * time.Second,
		Ignore: []error{timeout.ErrTimeout}, // slow is not down: server errors open the circuit
		Clock:  clk,
		Hooks:  breaker.Hooks{OnStateChange: func(c breaker.StateChange) { say("circuit %s -> %s", c.From, c.To) }},
	})
	if err != nil {
		return err
	}
	r, err := retry.New(retry.Config{
		MaxAttempts: 3, Delay: time.Second, Multiplier: 2, Jitter: retry.JitterNone, Clock: clk,
		Hooks: retry.Hooks{OnRetry: func(_ context.Context, e retry.RetryEvent) {
			say("attempt %d failed: %v; retrying in %v", e.Attempt, e.Err, e.Delay)
		}},
	})
	if err != nil {
		return err
	}
	perAttempt, err := timeout.New(timeout.Config{Timeout: 2 * time.Second, Clock: clk})
	if err != nil {
		return err
	}

	client := &http.Client{}
	charge := func(ctx context.Context) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			return "", &statusError{resp.StatusCode}
		}
		return string(body), err
	}
	pay, err := breakwater.Wrap(charge, r, b, perAttempt)
	if err != nil {
		return err
	}

	call := func(n int) {
		say("call %d", n)
		v, err := pay(context.Background())
		switch {
		case errors.Is(err, breaker.ErrOpen):
			say("call %d rejected at once, server not called: %v", n, err)
		case err != nil:
			say("call %d failed: %v", n, err)
		default:
			say("call %d succeeded: %s", n, v)
		}
	}
	at := func(d time.Duration) { clk.Sleep(d - clk.Since(clk.start)) }

	call(1)
	at(10 * time.Second)
	call(2)
	at(35 * time.Second)
	call(3)
	m := b.Metrics()
	say("breaker: %d calls, %d failures, %d ignored (timed out), %d rejected, %d trip(s), now %s",
		m.Calls, m.Failures, m.Ignored, m.Rejections, m.Trips, m.State)
	return nil
}
