package throttle_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/breakwater-go/breakwater/throttle"
)

var errOverloaded = errors.New("503 overloaded")

// A client that backs off on its own when the search service refuses its
// calls for overload: a 503 is a refusal, any other error an answer.
func Example() {
	search, err := throttle.New(throttle.Config{
		Name:    "search",
		Refused: func(err error) bool { return errors.Is(err, errOverloaded) },
	})
	if err != nil {
		panic(err)
	}
	err = search.Do(context.Background(), func(ctx context.Context) error {
		return nil // call the search service here
	})
	if errors.Is(err, throttle.ErrThrottled) {
		fmt.Println("refused locally: the search service is refusing most calls")
		return
	}
	m := search.Metrics()
	fmt.Println(err, m.Requests, m.Accepts, m.Probability)
	// Output: <nil> 1 1 0
}
