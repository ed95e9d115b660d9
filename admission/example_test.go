package admission_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/breakwater-go/breakwater/admission"
)

// A server admits each request through a Controller before doing its
// work, and ends the request's permit with its outcome. (bwhttp.NewHandler
// and bwgrpc.NewServer do this for HTTP and gRPC servers.)
func Example() {
	ac, err := admission.New(admission.Config{Name: "orders"})
	if err != nil {
		panic(err)
	}
	serve := func(ctx context.Context, p admission.Priority) error {
		permit, err := ac.Admit(ctx, p)
		if err != nil {
			return err // an *outcome.RejectedError: answer 503 with its outcome.RetryAfter
		}
		var workErr error // ... the request's work ...
		permit.Done(workErr)
		return workErr
	}
	fmt.Println(serve(context.Background(), admission.Critical))

	done, cancel := context.WithCancel(context.Background())
	cancel()
	err = serve(done, admission.Default)
	fmt.Println(errors.Is(err, context.Canceled))
	// Output:
	// <nil>
	// true
}
