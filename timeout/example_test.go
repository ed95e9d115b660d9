package timeout_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/breakwater-go/breakwater/timeout"
)

// A call that ignores its context is abandoned at the time limit.
func ExampleExecute() {
	p, _ := timeout.New(timeout.Config{Timeout: 10 * time.Millisecond})
	release := make(chan struct{})
	defer close(release)
	_, err := timeout.Execute(context.Background(), p, func(context.Context) (string, error) {
		<-release // deaf to its context
		return "too late", nil
	})
	fmt.Println(err)
	fmt.Println(errors.Is(err, timeout.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	// Output:
	// timeout: call took longer than 10ms
	// true true
}
