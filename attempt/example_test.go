package attempt_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/breakwater-go/breakwater/attempt"
	"github.com/breakwater-go/breakwater/retry"
)

// A call that says which attempt it is, as a request header or a log
// field would.
func ExampleFrom() {
	p, _ := retry.New(retry.Config{MaxAttempts: 3, Delay: time.Millisecond, Jitter: retry.JitterNone})
	_ = p.Do(context.Background(), func(ctx context.Context) error {
		a := attempt.From(ctx)
		fmt.Printf("attempt %d (%v), %d before it\n", a.Number, a.Kind, a.Previous())
		if a.Number < 3 {
			return errors.New("503")
		}
		return nil
	})
	// Output:
	// attempt 1 (first), 0 before it
	// attempt 2 (retry), 1 before it
	// attempt 3 (retry), 2 before it
}
