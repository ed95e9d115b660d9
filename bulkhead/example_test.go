package bulkhead_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/breakwater-go/breakwater/bulkhead"
)

// At most 10 calls to the report service at once, and at most 20 more
// waiting for up to 100 ms: a slow report service can hold 10 goroutines
// of this service, never all of them.
func Example() {
	reports, err := bulkhead.New(bulkhead.Config{
		Name:          "reports",
		MaxConcurrent: 10,
		MaxQueue:      20,
		MaxWait:       100 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	err = reports.Do(context.Background(), func(ctx context.Context) error {
		return nil // call the report service here, passing ctx along
	})
	switch {
	case errors.Is(err, bulkhead.ErrFull):
		fmt.Println("too many calls to reports: answer 503 at once")
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Println("done;", reports.Metrics().InFlight, "in flight")
	}
	// Output: done; 0 in flight
}
