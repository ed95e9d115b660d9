package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
)

// demo drives a breaker with the default settings (3 consecutive failures,
// 30 s open, 1 probe) through every state, against a dependency that goes
// down for a while, on a fake clock so that it runs at once.
func demo(w io.Writer) error {
	clk := clocktest.NewFake(time.Time{})
	start := clk.Now()
	stamp := func() string { return fmt.Sprintf("T+%3ds", int(clk.Since(start).Seconds())) }

	b, err := breaker.New(breaker.Config{
		Name:                   "payments-api",
		OpenDurationMultiplier: 2, // a second trip in a row stays open 60 s
		Clock:                  clk,
		Hooks: breaker.Hooks{OnStateChange: func(c breaker.StateChange) {
			fmt.Fprintf(w, "%s   state %s -> %s\n", stamp(), c.From, c.To)
		}},
	})
	if err != nil {
		return err
	}

	errDown := errors.New("503 Service Unavailable")
	outageFrom, outageTo := 10*time.Second, 70*time.Second
	dependency := func(context.Context) error {
		if t := clk.Since(start); t >= outageFrom && t < outageTo {
			return errDown
		}
		return nil
	}
	call := func(n int) {
		err := b.Do(context.Background(), dependency)
		switch {
		case err == nil:
			fmt.Fprintf(w, "%s call %2d: ok\n", stamp(), n)
		case errors.Is(err, breaker.ErrOpen):
			fmt.Fprintf(w, "%s call %2d: rejected at once: %v\n", stamp(), n, err)
		default:
			fmt.Fprintf(w, "%s call %2d: failed: %v\n", stamp(), n, err)
		}
	}

	fmt.Fprintln(w, "payments-api is down from T+10s to T+70s; one call every 5 s")
	n := 0
	for i := 0; i < 25; i++ {
		n++
		call(n)
		clk.Advance(5 * time.Second)
	}

	fmt.Fprintf(w, "%s operator: force open\n", stamp())
	b.ForceOpen()
	n++
	call(n)
	fmt.Fprintf(w, "%s operator: disable\n", stamp())
	b.Disable()
	n++
	call(n)
	fmt.Fprintf(w, "%s operator: reset\n", stamp())
	b.Reset()

	m := b.Metrics()
	fmt.Fprintf(w, "\n%d calls run (%d ok, %d failed), %d rejected, %d trips, %d state changes\n",
		m.Calls, m.Successes, m.Failures, m.Rejections, m.Trips, m.StateChanges)
	return nil
}
