package dashboard

import (
	"context"
	"errors"
	"slices"

	"github.com/breakwater-go/breakwater/breaker"
)

// Action is what a button of the page does to a circuit. The buttons
// exist only with Config.Actions.
type Action string

// The actions, as breaker.Breaker's methods of the same names.
const (
	Trip      Action = "trip"
	Reset     Action = "reset"
	ForceOpen Action = "force-open"
)

// breakerActions are what every breaker of Config.Watch can do.
var breakerActions = map[Action]func(*breaker.Breaker){
	Trip:      (*breaker.Breaker).Trip,
	Reset:     (*breaker.Breaker).Reset,
	ForceOpen: (*breaker.Breaker).ForceOpen,
}

// allActions lists breakerActions in the order the page shows them.
var allActions = []Action{Trip, Reset, ForceOpen}

// ErrNoCircuit is returned by a Source's Act for a name it does not hold.
var ErrNoCircuit = errors.New("dashboard: no circuit of that name")

// Source is a set of circuits that are not breakers of this process, for
// the dashboard to show beside those of Config.Watch: circuits kept in a
// file shared by processes (as those of "breakwater run" are), in a store,
// or reported by another service.
type Source interface {
	// Circuits returns every circuit now. The page shows Name, State,
	// Calls, Rejections, Trips, FailureRate, SlowCallRate, TimeInState
	// and RetryIn; an error is shown above the circuits until a later
	// call succeeds. Circuits that share a name, here or in
	// Config.Watch, are one row. It should return promptly: the viewers
	// wait for the snapshot it is part of.
	Circuits() ([]breaker.Metrics, error)
	// Actions returns the actions Act carries out: none for a read-only
	// source. The page offers a circuit only the actions every one of
	// its sources can carry out.
	Actions() []Action
	// Act carries out action, one of those Actions returns, on the
	// circuit named name. It returns an error matching ErrNoCircuit when
	// the source holds no such circuit.
	Act(ctx context.Context, action Action, name string) error
}

// common returns the actions both a and b hold, in a's order.
func common(a, b []Action) []Action {
	var both []Action
	for _, x := range a {
		if slices.Contains(b, x) {
			both = append(both, x)
		}
	}
	return both
}
