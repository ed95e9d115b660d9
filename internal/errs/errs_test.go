package errs

import (
	"errors"
	"fmt"
	"testing"
)

type rejection struct{ yes bool }

func (r rejection) Error() string  { return "rejected" }
func (r rejection) Rejected() bool { return r.yes }

func TestRejected(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("plain"), false},
		{rejection{true}, true},
		{rejection{false}, false},
		{fmt.Errorf("wrapped: %w", rejection{true}), true},
		{errors.Join(errors.New("a"), fmt.Errorf("b: %w", rejection{true})), true},
		{errors.Join(errors.New("a"), errors.New("b")), false},
	}
	for _, tt := range tests {
		if got := Rejected(tt.err); got != tt.want {
			t.Errorf("Rejected(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestAsAllocatesNothing(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", rejection{true})
	if n := testing.AllocsPerRun(100, func() { Rejected(err) }); n != 0 {
		t.Errorf("Rejected allocates %v times", n)
	}
}
