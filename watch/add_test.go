package watch_test

import (
	"strings"
	"testing"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/watch"
)

// Add takes every kind of policy through one method, and refuses a value
// it cannot watch, or a nil one, with an error that names it, adding
// nothing of the call.
func TestAdd(t *testing.T) {
	b, _ := breaker.New(breaker.Config{Name: "b"})
	r, _ := retry.New(retry.Config{Name: "r"})
	heads, _ := bulkhead.NewRegistry(bulkhead.Config{}, 0)
	heads.Get("h")
	var nilBreaker *breaker.Breaker
	for _, tc := range []struct {
		name     string
		policies []any
		err      string
	}{
		{"every kind", []any{b, r, heads}, ""},
		{"a value of another type", []any{b, "b"}, "cannot watch policy 1, a string"},
		{"nil", []any{nil}, "policy 0 is nil"},
		{"a nil pointer", []any{b, nilBreaker}, "policy 1 is nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l watch.List
			err := l.Add(tc.policies...)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("Add = %v, want %q", err, tc.err)
			}
			r := l.Report()
			if got, want := len(r.Circuits)+len(r.Retries)+len(r.Limiters), map[bool]int{true: 3, false: 0}[tc.err == ""]; got != want {
				t.Errorf("%d policies reported, want %d", got, want)
			}
		})
	}
}
