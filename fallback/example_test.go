package fallback_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/breakwater-go/breakwater/fallback"
	"github.com/breakwater-go/breakwater/outcome"
)

func ExampleExecute() {
	lookup := func(context.Context) (string, error) { return "", errors.New("503") }
	v, err := fallback.Execute(context.Background(), fallback.Value("guest"), lookup)
	fmt.Println(v, err)
	// Output: guest <nil>
}

// A fallback computed from the error, used only while a circuit is open.
func ExampleFunc() {
	cached := map[string]string{"sku-1": "9.99"}
	price := &fallback.Policy[string]{
		Answer: func(_ context.Context, err error) (string, error) { return cached["sku-1"] + " (cached)", nil },
		If:     outcome.Rejected,
	}
	v, err := fallback.Execute(context.Background(), price, func(context.Context) (string, error) {
		return "", errors.New("timeout") // not an open circuit: passed through
	})
	fmt.Printf("%q %v\n", v, err)
	// Output: "" timeout
}
