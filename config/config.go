// Package config holds what the configurations of every Breakwater
// package share: the error that names a field out of range.
//
// Every constructor (breaker.New, retry.New, bulkhead.New and the others,
// the registries, the integrations) checks its Config once and returns an
// *Error naming the first field that is wrong, never a panic or a silent
// default. errors.Is(err, ErrInvalid) matches them all; errors.As gives
// the package and the field.
package config

import "errors"

// ErrInvalid is matched by every *Error.
var ErrInvalid = errors.New("invalid config")

// Error reports a configuration field that is out of range.
type Error struct {
	// Package is the package whose configuration it is, e.g. "breaker".
	Package string
	// Field is the path of the field inside the Config, e.g.
	// "Trip.MinCalls" or "FailOn[2]".
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error returns "<package>: invalid Config.<field>: <reason>".
func (e *Error) Error() string {
	return e.Package + ": invalid Config." + e.Field + ": " + e.Reason
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }
