package adaptive_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/breakwater-go/breakwater/adaptive"
)

// The inventory service's capacity is not known, and changes with its
// load: the limit on calls in flight finds it from their latency, between
// 5 and 100.
func Example() {
	inventory, err := adaptive.New(adaptive.Config{Name: "inventory", MinLimit: 5, MaxLimit: 100})
	if err != nil {
		panic(err)
	}
	err = inventory.Do(context.Background(), func(ctx context.Context) error {
		return nil // call the inventory service here
	})
	if errors.Is(err, adaptive.ErrLimited) {
		fmt.Println("over the inventory service's capacity: shed the call")
		return
	}
	fmt.Println(err, "; limit", inventory.Metrics().Limit)
	// Output: <nil> ; limit 20
}
