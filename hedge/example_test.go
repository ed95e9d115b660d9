package hedge_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/hedge"
)

// A lookup that is slow now and then is sent again after 20 ms without an
// answer; the first answer wins and the slow attempt is cancelled.
func Example() {
	h, err := hedge.New(hedge.Config{Name: "replica-read", Delay: 20 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	var attempts atomic.Int32 // attempts run at once
	read := func(ctx context.Context) (string, error) {
		if attempts.Add(1) == 1 { // this replica is stuck
			<-ctx.Done()
			return "", ctx.Err()
		}
		return "value from replica 2", nil
	}
	v, err := hedge.Execute(context.Background(), h, read)
	fmt.Println(v, err)
	m := h.Metrics()
	fmt.Println("hedges:", m.Hedges, "won:", m.Won)
	// Output:
	// value from replica 2 <nil>
	// hedges: 1 won: 1
}
