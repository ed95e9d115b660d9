package adaptive_test

import (
	"testing"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/internal/benchcase"
)

// BenchmarkDo is a call admitted and sampled, well under the limit.
func BenchmarkDo(b *testing.B) {
	l, err := adaptive.New(adaptive.Config{InitialLimit: adaptive.MaxLimit, MaxLimit: adaptive.MaxLimit})
	if err != nil {
		b.Fatal(err)
	}
	benchcase.Do(b, l.Do)
}
