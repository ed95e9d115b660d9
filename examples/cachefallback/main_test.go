package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestScenario(t *testing.T) {
	var out bytes.Buffer
	if err := scenario(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	wants := []string{
		"prices is up",
		"GET /price?sku=apple  200 live  apple costs 9.99",
		"prices goes down",
		"GET /price?sku=apple  502       prices failed",
		// pear's attempt is the third failure: it opens the circuit, and
		// its answer is the last one prices gave, not a rejection.
		"GET /price?sku=pear   502       prices failed",
		"GET /price?sku=apple  200 cache apple costs 9.99",
		"GET /price?sku=pear   503       prices are unavailable and none is cached",
		`GET /health/circuits: {"status":"degraded","circuits":[{"name":"127.0.0.1:`,
	}
	for i, want := range wants {
		if i >= len(lines) || !strings.HasPrefix(lines[i], want) {
			t.Fatalf("line %d: want prefix %q\n%s", i, want, out.String())
		}
	}
	if !strings.Contains(out.String(), `"state":"open"`) {
		t.Fatalf("the health document does not show the open circuit:\n%s", out.String())
	}
}
