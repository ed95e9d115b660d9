package throttle_test

import (
	"testing"

	"github.com/breakwater-go/breakwater/internal/benchcase"
	"github.com/breakwater-go/breakwater/throttle"
)

// BenchmarkDo is an accepted call through a throttle that refuses nothing.
func BenchmarkDo(b *testing.B) {
	th, err := throttle.New(throttle.Config{})
	if err != nil {
		b.Fatal(err)
	}
	benchcase.Do(b, th.Do)
}
