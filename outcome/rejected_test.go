package outcome_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/outcome"
)

func TestRejectedError(t *testing.T) {
	errFull := errors.New("bulkhead: full")
	for _, tc := range []struct {
		err   *outcome.RejectedError
		msg   string
		after time.Duration
		hint  bool
	}{
		{&outcome.RejectedError{Err: errFull}, "bulkhead: full", 0, false},
		{&outcome.RejectedError{Err: errFull, Name: "db"}, `bulkhead "db": full`, 0, false},
		{&outcome.RejectedError{Err: errors.New("limited"), Name: "api", After: 20 * time.Millisecond}, `"api": limited; retry in 20ms`, 20 * time.Millisecond, true},
		{&outcome.RejectedError{Name: "x"}, `"x": rejected`, 0, false},
	} {
		wrapped := fmt.Errorf("call: %w", tc.err)
		after, hint := outcome.RetryAfter(wrapped)
		if got := tc.err.Error(); got != tc.msg || !outcome.Rejected(wrapped) || after != tc.after || hint != tc.hint {
			t.Errorf("%+v: %q, rejected %v, RetryAfter %v %v", tc.err, got, outcome.Rejected(wrapped), after, hint)
		}
		if tc.err.Err != nil && !errors.Is(wrapped, tc.err.Err) {
			t.Errorf("%+v does not match its Err", tc.err)
		}
		if n := testing.AllocsPerRun(100, func() { outcome.RetryAfter(wrapped); outcome.Rejected(wrapped) }); n != 0 {
			t.Errorf("%+v: reading it allocates %v times", tc.err, n)
		}
	}
}
