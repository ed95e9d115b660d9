package breaker

import "strconv"

// State is the state of a circuit.
type State int32

// The states of a circuit. The zero State is Closed.
const (
	// Closed lets every call through and records its outcome.
	Closed State = iota
	// Open rejects every call with ErrOpen until its cool-down ends.
	Open
	// HalfOpen lets a bounded number of probe calls through; their successes
	// close the circuit and a failure opens it again.
	HalfOpen
	// ForcedOpen rejects every call until Reset. It is set by ForceOpen.
	ForcedOpen
	// Disabled lets every call through and never trips. It is set by
	// Disable; outcomes are still counted in the metrics.
	Disabled
)

var stateNames = [...]string{"closed", "open", "half-open", "forced-open", "disabled"}

// String returns the state's name: "closed", "open", "half-open",
// "forced-open" or "disabled". The names are stable; they are used as label
// values in metrics and as JSON values.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText returns the state's name, so that a State reads well in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a name returned by String.
func (s *State) UnmarshalText(text []byte) error {
	for i, name := range stateNames {
		if name == string(text) {
			*s = State(i)
			return nil
		}
	}
	return &unknownStateError{string(text)}
}

type unknownStateError struct{ name string }

func (e *unknownStateError) Error() string { return "breaker: unknown state " + strconv.Quote(e.name) }
