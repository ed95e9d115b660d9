package clocktest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/clock/clocktest"
)

func TestFakeFiresTimersInOrderAtTheirDeadlines(t *testing.T) {
	f := clocktest.NewFake(time.Time{})
	var fired []time.Duration
	for _, d := range []time.Duration{3 * time.Second, time.Second, 2 * time.Second} {
		f.AfterFunc(d, func() { fired = append(fired, f.Since(clocktest.Epoch)) })
	}
	stopped := f.AfterFunc(time.Second, func() { t.Error("a stopped timer fired") })
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop must report true once, then false")
	}
	ch := f.NewTimer(1500 * time.Millisecond)

	f.Advance(2 * time.Second)
	if len(fired) != 2 || fired[0] != time.Second || fired[1] != 2*time.Second {
		t.Fatalf("fired at %v, want [1s 2s]", fired)
	}
	select {
	case at := <-ch.C():
		if at.Sub(clocktest.Epoch) != 1500*time.Millisecond {
			t.Fatalf("channel timer delivered %v", at)
		}
	default:
		t.Fatal("channel timer did not fire")
	}
	if len(f.Deadlines()) != 1 || !f.Deadlines()[0].Equal(clocktest.Epoch.Add(3*time.Second)) {
		t.Fatalf("pending %d, deadlines %v", len(f.Deadlines()), f.Deadlines())
	}
	f.Advance(-time.Hour) // never backwards
	if f.Since(clocktest.Epoch) != 2*time.Second {
		t.Fatal("a negative Advance moved the clock")
	}
}

func TestTimerCallbackMayScheduleAnother(t *testing.T) {
	f := clocktest.NewFake(time.Time{})
	n := 0
	var tick func()
	tick = func() {
		n++
		f.AfterFunc(time.Second, tick)
	}
	f.AfterFunc(time.Second, tick)
	f.Advance(10 * time.Second)
	if n != 10 {
		t.Fatalf("ticked %d times in 10s, want 10", n)
	}
}

func TestSleepWithFakeClock(t *testing.T) {
	f := clocktest.NewFake(time.Time{})
	done := make(chan error)
	go func() { done <- clock.Sleep(context.Background(), f, time.Minute) }()
	if err := f.WaitForTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	f.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatalf("Sleep: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- clock.Sleep(ctx, f, time.Minute) }()
	f.WaitForTimers(context.Background(), 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Sleep returned %v", err)
	}
	if len(f.Deadlines()) != 0 {
		t.Fatal("a cancelled Sleep left its timer behind")
	}
}

func TestDriveJumpsFromTimerToTimer(t *testing.T) {
	f := clocktest.NewFake(time.Time{})
	var woke []time.Duration
	f.Drive(func() {
		for _, d := range []time.Duration{time.Second, time.Minute, time.Millisecond} {
			clock.Sleep(context.Background(), f, d)
			woke = append(woke, f.Since(clocktest.Epoch))
		}
	})
	want := []time.Duration{time.Second, time.Second + time.Minute, time.Second + time.Minute + time.Millisecond}
	for i := range want {
		if woke[i] != want[i] {
			t.Fatalf("woke at %v, want %v", woke, want)
		}
	}
}

func TestWaitForTimersHonoursContext(t *testing.T) {
	f := clocktest.NewFake(time.Time{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.WaitForTimers(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitForTimers = %v", err)
	}
}

func TestSystemClock(t *testing.T) {
	c := clock.Or(nil)
	if c != clock.System {
		t.Fatal("Or(nil) must be System")
	}
	if err := clock.Sleep(context.Background(), c, 0); err != nil {
		t.Fatal(err)
	}
	fired := make(chan struct{})
	tm := c.AfterFunc(time.Nanosecond, func() { close(fired) })
	<-fired
	if tm.C() != nil || tm.Stop() {
		t.Fatal("a fired AfterFunc timer has no channel and cannot be stopped")
	}
	nt := c.NewTimer(time.Hour)
	if !nt.Stop() {
		t.Fatal("Stop of a pending timer")
	}
	if c.Since(c.Now()) < 0 {
		t.Fatal("time ran backwards")
	}
}

func ExampleFake() {
	clk := clocktest.NewFake(time.Time{})
	clk.AfterFunc(30*time.Second, func() {
		fmt.Println("cool-down over after", clk.Since(clocktest.Epoch))
	})
	clk.Advance(29 * time.Second)
	fmt.Println("29s passed")
	clk.Advance(time.Second)
	// Output:
	// 29s passed
	// cool-down over after 30s
}
