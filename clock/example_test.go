package clock_test

import (
	"context"
	"fmt"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/clock/clocktest"
)

// Sleep waits on any clock; on a fake one, the test decides when time
// passes.
func ExampleSleep() {
	clk := clocktest.NewFake(time.Time{})
	clk.Drive(func() {
		err := clock.Sleep(context.Background(), clk, time.Hour)
		fmt.Println(err, clk.Since(clocktest.Epoch))
	})
	// Output: <nil> 1h0m0s
}
