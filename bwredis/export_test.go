package bwredis

// StateKeyFor returns the state key of the circuit called name under prefix.
func StateKeyFor(prefix, name string) string {
	return prefix + ":{" + tagOf(name) + "}:state"
}
