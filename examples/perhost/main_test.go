package main

import (
	"bytes"
	"strings"
	"testing"
)

// The broken host's circuit opens after three failures and turns the
// fourth call away; the burst shed by the other host's admission control
// is served after its Retry-After, and that host's circuit stays closed.
func TestScenario(t *testing.T) {
	var out bytes.Buffer
	if err := scenario(&out); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	for _, want := range []string{
		"GET 3: 500 pricing is broken",
		"GET 4: rejected at once: the circuit is open",
		"of 8 answered 200",
		"pricing   open",
		"inventory closed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q", want)
		}
	}
	if strings.Contains(out.String(), " 0 of 8 answered") {
		t.Error("no request of the burst was served")
	}
	if strings.Contains(out.String(), "shed 0 ") {
		t.Error("the burst was not shed: the example shows nothing")
	}
}
