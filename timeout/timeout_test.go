package timeout_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/timeout"
)

func newPolicy(t *testing.T, d time.Duration) (*timeout.Policy, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.NewFake(time.Now())
	p, err := timeout.New(timeout.Config{Timeout: d, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return p, clk
}

func TestFastCallReturnsItsResult(t *testing.T) {
	p, _ := newPolicy(t, time.Second)
	v, err := timeout.Execute(context.Background(), p, func(ctx context.Context) (int, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the call's context has no deadline")
		}
		return 7, nil
	})
	if v != 7 || err != nil {
		t.Fatalf("got %v, %v", v, err)
	}
}

func TestCallThatHonoursItsContextTimesOut(t *testing.T) {
	p, clk := newPolicy(t, 2*time.Second)
	done := make(chan error)
	saw := make(chan error, 1)
	go func() {
		done <- p.Do(context.Background(), func(ctx context.Context) error {
			<-ctx.Done()
			saw <- ctx.Err()
			return ctx.Err()
		})
	}()
	clk.WaitForTimers(context.Background(), 1)
	clk.Advance(2 * time.Second)
	err := <-done
	if !errors.Is(err, timeout.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if sawErr := <-saw; !errors.Is(sawErr, context.DeadlineExceeded) {
		t.Fatalf("the call saw %v, want DeadlineExceeded", sawErr)
	}
	if err.Error() != "timeout: call took longer than 2s" {
		t.Fatalf("message %q", err)
	}
}

func TestCallThatIgnoresItsContextIsAbandoned(t *testing.T) {
	p, clk := newPolicy(t, time.Second)
	release, finished := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := timeout.Execute(context.Background(), p, func(ctx context.Context) ([]byte, error) {
			defer close(finished)
			<-release // deaf to ctx
			return []byte("late"), nil
		})
		done <- err
	}()
	clk.WaitForTimers(context.Background(), 1)
	clk.Advance(time.Second)
	if err := <-done; !errors.Is(err, timeout.ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	close(release) // the late result is dropped without a race or a leak
	<-finished
}

func TestParentCancellationWins(t *testing.T) {
	p, clk := newPolicy(t, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- p.Do(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	}()
	clk.WaitForTimers(context.Background(), 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || errors.Is(err, timeout.ErrTimeout) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := timeout.Execute(ctx, p, func(context.Context) (int, error) { t.Error("called"); return 0, nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("done context: %v", err)
	}
}

func TestPanicReachesTheCaller(t *testing.T) {
	p, _ := newPolicy(t, time.Second)
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v", r)
		}
	}()
	p.Do(context.Background(), func(context.Context) error { panic("boom") })
}

func TestSystemClockDeadline(t *testing.T) {
	p, err := timeout.New(timeout.Config{Timeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Do(context.Background(), func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	if !errors.Is(err, timeout.ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
}

func TestInvalidConfig(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		_, err := timeout.New(timeout.Config{Timeout: d})
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != "Timeout" || !errors.Is(err, config.ErrInvalid) {
			t.Errorf("New(%v) = %v", d, err)
		}
	}
}

// A call that ends its goroutine with runtime.Goexit (as t.FailNow does)
// has not succeeded: the caller's goroutine ends the same way, running its
// deferred calls, instead of getting a zero value and a nil error.
func TestGoexitInTheCallEndsTheCaller(t *testing.T) {
	p, _ := newPolicy(t, time.Second)
	returned := make(chan bool, 1)
	deferred := make(chan bool, 1)
	go func() {
		defer func() { deferred <- true }()
		_, _ = timeout.Execute(context.Background(), p, func(context.Context) (int, error) {
			runtime.Goexit()
			return 1, nil
		})
		returned <- true
	}()
	<-deferred
	select {
	case <-returned:
		t.Fatal("Execute returned for a call that called runtime.Goexit")
	default:
	}
}

// FuzzConfig: any Config gives a working policy or a *config.Error naming
// the field, never a panic.
func FuzzConfig(f *testing.F) {
	f.Add(int64(time.Second))
	f.Add(int64(-1))
	f.Add(int64(1<<63 - 1))
	f.Fuzz(func(t *testing.T, d int64) {
		p, err := timeout.New(timeout.Config{Timeout: time.Duration(d), Clock: clocktest.NewFake(time.Time{})})
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Field != "Timeout" || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("New(%v) = %v", d, err)
			}
			return
		}
		v, err := timeout.Execute(context.Background(), p, func(context.Context) (int, error) { return 1, nil })
		if v != 1 || err != nil {
			t.Fatalf("a fast call under a %v limit: %v, %v", time.Duration(d), v, err)
		}
	})
}

func TestKeepHoldsTheContextUntilReleased(t *testing.T) {
	p, err := timeout.New(timeout.Config{Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var release func()
	ctx, err := timeout.ExecuteWith(context.Background(), p, timeout.Options[context.Context]{
		Keep: func(v context.Context, _ error, r func()) context.Context { release = r; return v },
	}, func(ctx context.Context) (context.Context, error) { return ctx, nil })
	if err != nil || ctx.Err() != nil {
		t.Fatalf("kept context ended at return: %v, %v", err, ctx.Err())
	}
	release()
	if ctx.Err() == nil {
		t.Fatal("release did not end the context")
	}
	// Without Keep, the call's context ends when the call returns.
	ctx, _ = timeout.Execute(context.Background(), p, func(ctx context.Context) (context.Context, error) { return ctx, nil })
	if ctx.Err() == nil {
		t.Fatal("context outlived the call without Keep")
	}
}

func TestDropTakesTheAbandonedResult(t *testing.T) {
	p, clk := newPolicy(t, time.Second)
	dropped := make(chan int, 1)
	proceed := make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := timeout.ExecuteWith(context.Background(), p, timeout.Options[int]{
			Drop: func(v int, _ error) { dropped <- v },
		}, func(context.Context) (int, error) { <-proceed; return 7, nil }) // ignores its context
		done <- err
	}()
	if err := clk.WaitForTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if err := <-done; !errors.Is(err, timeout.ErrTimeout) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	close(proceed)
	if v := <-dropped; v != 7 {
		t.Fatalf("dropped %d, want 7", v)
	}
}

// A Drop that panics on the goroutine of an abandoned call has no caller
// to take its panic: it is recovered, and the process goes on. (A panic
// there would end the process.)
func TestAPanickingDropOfAnAbandonedCallIsRecovered(t *testing.T) {
	p, clk := newPolicy(t, time.Second)
	proceed := make(chan struct{})
	dropped := make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := timeout.ExecuteWith(context.Background(), p, timeout.Options[int]{
			Drop: func(int, error) { close(dropped); panic("drop") },
		}, func(context.Context) (int, error) { <-proceed; return 7, nil })
		done <- err
	}()
	if err := clk.WaitForTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if err := <-done; !errors.Is(err, timeout.ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	close(proceed)
	<-dropped
}

// A call that gives up at the deadline with a result and an error has its
// result dropped: the caller gets the timeout, not the result.
func TestAResultReturnedWithTheDeadlinesErrorIsDropped(t *testing.T) {
	p, clk := newPolicy(t, time.Second)
	dropped := make(chan int, 1)
	done := make(chan error)
	go func() {
		_, err := timeout.ExecuteWith(context.Background(), p, timeout.Options[int]{
			Drop: func(v int, _ error) { dropped <- v },
		}, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 7, ctx.Err() // a partial result, and the deadline's error
		})
		done <- err
	}()
	if err := clk.WaitForTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if err := <-done; !errors.Is(err, timeout.ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	if v := <-dropped; v != 7 {
		t.Fatalf("dropped %d", v)
	}
}
