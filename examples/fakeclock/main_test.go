package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
)

// The retries wait 1 s, then 2 s: on a fake clock the test takes no time,
// and the clock shows the delays.
func TestRetriesWaitTheBackoff(t *testing.T) {
	clk := clocktest.NewFake(time.Time{})
	service := &flaky{failures: 2}
	prices, err := NewPrices(service.lookup, clk)
	if err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	var price float64
	clk.Drive(func() { price, err = prices.Price(context.Background(), "apple") }) // runs the call, firing its timers
	if err != nil || price != 9.99 || service.calls != 3 {
		t.Fatalf("price %v, err %v after %d calls", price, err, service.calls)
	}
	if waited := clk.Since(start); waited != 3*time.Second {
		t.Fatalf("waited %v, want 1 s + 2 s", waited)
	}
}

// Three failed attempts open the circuit: the next calls fail at once
// without reaching the service, until the 30-second cool-down lets a probe
// through.
func TestTheCircuitOpensAndRecovers(t *testing.T) {
	clk := clocktest.NewFake(time.Time{})
	service := &flaky{failures: 3}
	prices, err := NewPrices(service.lookup, clk)
	if err != nil {
		t.Fatal(err)
	}
	clk.Drive(func() { _, err = prices.Price(context.Background(), "apple") })
	if err == nil || service.calls != 3 {
		t.Fatalf("err %v after %d calls, want a failure after 3", err, service.calls)
	}
	if _, err := prices.Price(context.Background(), "apple"); !errors.Is(err, breaker.ErrOpen) || service.calls != 3 {
		t.Fatalf("while open: err %v, %d calls", err, service.calls)
	}
	clk.Advance(30 * time.Second) // the cool-down, in no time
	if price, err := prices.Price(context.Background(), "apple"); err != nil || price != 9.99 {
		t.Fatalf("after the cool-down: %v, %v", price, err)
	}
}

// The program's run, on the fake clock: its 3 s of backoff take none.
func TestRun(t *testing.T) {
	clk := clocktest.NewFake(time.Time{})
	var out bytes.Buffer
	var err error
	clk.Drive(func() { err = run(&out, clk) })
	if err != nil || out.String() != "apple costs 9.99 (err <nil>), after 3 calls and 3s of backoff\n" {
		t.Fatalf("%q, %v", out.String(), err)
	}
}
