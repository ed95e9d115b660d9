// Package errs finds what an error chain says of itself, as errors.As
// does, without the allocation errors.As costs for its target: the
// failure paths of the policies stay allocation-free.
package errs

// As returns the first error in err's chain (depth first, as errors.As
// walks it) that implements I. Unlike errors.As it does not consult As
// methods.
func As[I any](err error) (I, bool) {
	for err != nil {
		if i, ok := err.(I); ok {
			return i, true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if i, ok := As[I](e); ok {
					return i, true
				}
			}
			return *new(I), false
		default:
			return *new(I), false
		}
	}
	return *new(I), false
}

// Rejected reports an error that says it is a policy's rejection (a
// Rejected() bool method saying true): the call was turned away before it
// reached the dependency, and says nothing of it.
func Rejected(err error) bool {
	r, ok := As[interface{ Rejected() bool }](err)
	return ok && r.Rejected()
}

// Outcome is how the end of a call counts for the policies that judge the
// dependency by it; breaker.Outcome is this type.
type Outcome uint8

// The outcomes of a call.
const (
	Success Outcome = iota
	Failure
	Ignored // neither success nor failure
)

// Verdict returns the outcome an error says of itself with a Verdict()
// Outcome method (breaker.WithVerdict), if it does. An unknown outcome
// is a failure.
func Verdict(err error) (Outcome, bool) {
	v, ok := As[interface{ Verdict() Outcome }](err)
	if !ok {
		return 0, false
	}
	if o := v.Verdict(); o <= Ignored {
		return o, true
	}
	return Failure, true
}
