package config_test

import (
	"errors"
	"fmt"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/retry"
)

// Every package's invalid configuration is one error shape.
func Example() {
	_, err := breaker.New(breaker.Config{Trip: breaker.CountWindow{Size: 10, MinCalls: 50}})
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Println(ce.Package, ce.Field)
	}
	_, err = retry.New(retry.Config{MaxAttempts: -2})
	fmt.Println(errors.Is(err, config.ErrInvalid), err)
	// Output:
	// breaker Trip.MinCalls
	// true retry: invalid Config.MaxAttempts: must not be negative (but Unlimited), got -2
}
