package adaptive_test

import (
	"testing"

	"github.com/breakwater-go/breakwater/adaptive"
)

// A limiter that takes over from another keeps its limit, within its own
// bounds.
func TestInheritKeepsTheLimit(t *testing.T) {
	prev, _ := adaptive.New(adaptive.Config{InitialLimit: 50})
	for _, tc := range []struct {
		cfg  adaptive.Config
		want int
	}{
		{adaptive.Config{InitialLimit: 10}, 50},
		{adaptive.Config{InitialLimit: 10, MaxLimit: 40}, 40},
		{adaptive.Config{InitialLimit: 100, MinLimit: 60}, 60},
	} {
		next, err := adaptive.New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		next.Inherit(prev)
		if got := next.Metrics().Limit; got != tc.want {
			t.Errorf("%+v: limit %d, want %d", tc.cfg, got, tc.want)
		}
	}
}
