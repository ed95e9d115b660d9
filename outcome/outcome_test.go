package outcome_test

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/outcome"
)

type rejection struct{ yes bool }

func (r rejection) Error() string  { return "turned away" }
func (r rejection) Rejected() bool { return r.yes }

type hint struct{}

func (hint) Error() string             { return "slow down" }
func (hint) RetryAfter() time.Duration { return time.Second }

func TestMarks(t *testing.T) {
	wrapped := func(err error) error { return fmt.Errorf("call: %w", err) }
	tests := []struct {
		name           string
		err            error
		verdict        outcome.Verdict
		hasVerdict     bool
		retry, marked  bool
		rejected       bool
		after          time.Duration
		hasAfter       bool
		unmarkedIsBase bool
	}{
		{name: "nil", err: nil},
		{name: "plain", err: io.EOF, unmarkedIsBase: true},
		{name: "failure", err: outcome.Mark(io.EOF, outcome.Failure), verdict: outcome.Failure, hasVerdict: true, unmarkedIsBase: true},
		{name: "ignored, wrapped", err: wrapped(outcome.Mark(io.EOF, outcome.Ignored)), verdict: outcome.Ignored, hasVerdict: true},
		{name: "overloaded", err: outcome.Mark(io.EOF, outcome.Overloaded), verdict: outcome.Overloaded, hasVerdict: true, unmarkedIsBase: true},
		{name: "unknown verdict", err: outcome.Mark(io.EOF, 9), verdict: outcome.Failure, hasVerdict: true, unmarkedIsBase: true},
		{name: "permanent", err: outcome.Permanent(io.EOF), marked: true, unmarkedIsBase: true},
		{name: "retryable", err: outcome.Retryable(io.EOF), retry: true, marked: true, unmarkedIsBase: true},
		{name: "permanent wins", err: outcome.Retryable(outcome.Permanent(io.EOF)), marked: true, unmarkedIsBase: true},
		{name: "every mark", err: outcome.Retryable(outcome.After(time.Minute, outcome.Mark(io.EOF, outcome.Success))), hasVerdict: true, retry: true, marked: true, after: time.Minute, hasAfter: true, unmarkedIsBase: true},
		{name: "rejection", err: wrapped(rejection{true}), rejected: true},
		{name: "not a rejection", err: rejection{false}, unmarkedIsBase: true},
		{name: "a hint of another package", err: errors.Join(io.EOF, hint{}), after: time.Second, hasAfter: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, ok := outcome.VerdictOf(tt.err); v != tt.verdict || ok != tt.hasVerdict {
				t.Errorf("VerdictOf = %v, %v", v, ok)
			}
			if retry, marked := outcome.Retry(tt.err); retry != tt.retry || marked != tt.marked {
				t.Errorf("Retry = %v, %v", retry, marked)
			}
			if got := outcome.Rejected(tt.err); got != tt.rejected {
				t.Errorf("Rejected = %v", got)
			}
			if d, ok := outcome.RetryAfter(tt.err); d != tt.after || ok != tt.hasAfter {
				t.Errorf("RetryAfter = %v, %v", d, ok)
			}
			if u := errors.Unwrap(tt.err); u != nil && !errors.Is(tt.err, u) {
				t.Errorf("errors.Is does not see through %v", tt.err)
			}
			if tt.unmarkedIsBase && tt.err != nil {
				if u := outcome.Unmark(tt.err); u != io.EOF && u != error(rejection{false}) {
					t.Errorf("Unmark = %#v", u)
				}
			}
		})
	}
	for _, mark := range []func(error) error{outcome.Permanent, outcome.Retryable,
		func(err error) error { return outcome.Mark(err, outcome.Failure) },
		func(err error) error { return outcome.After(time.Second, err) }} {
		if mark(nil) != nil {
			t.Error("a mark of nil is not nil")
		}
	}
	if s := outcome.Ignored.String() + " " + outcome.Overloaded.String() + " " + outcome.Verdict(7).String(); s != "ignored overloaded verdict(7)" {
		t.Errorf("String: %q", s)
	}
}

// An integration says, by its own documented rules, how an answer counts
// and whether it is retried; every policy reads the marks from here.
func Example() {
	answer := errors.New("503 Service Unavailable")
	err := outcome.Retryable(outcome.After(2*time.Second, outcome.Mark(answer, outcome.Failure)))

	v, _ := outcome.VerdictOf(err)
	retry, _ := outcome.Retry(err)
	d, _ := outcome.RetryAfter(err)
	fmt.Println(v, retry, d, errors.Is(err, answer), outcome.Unmark(err) == answer)
	// Output: failure true 2s true true
}
