package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// While the server is down, the recommended stack sends it under one
// attempt a request (the circuit turns most away at once) where retries
// alone send four; both serve every request while it is up, and the
// recommended stack serves or turns away at once each one once it is back
// (the circuit's cool-down keeps some off it for up to half a phase).
func TestScenario(t *testing.T) {
	var out bytes.Buffer
	if err := scenario(&out, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	var rows [6]struct {
		name                            string
		n, reached                      int
		succeeded, rejected, perRequest float64
	}
	i := 0
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) != 6 || f[0] == "phase" {
			continue
		}
		r := &rows[i]
		if _, err := fmt.Sscanf(line, " %s %d %f%% %f%% %d %f", &r.name, &r.n, &r.succeeded, &r.rejected, &r.reached, &r.perRequest); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		i++
	}
	if i != 6 {
		t.Fatalf("%d rows", i)
	}
	recommended, alone := rows[:3], rows[3:]
	if recommended[0].succeeded != 100 || alone[0].succeeded != 100 {
		t.Errorf("while up: %.1f%% and %.1f%% succeeded", recommended[0].succeeded, alone[0].succeeded)
	}
	if recommended[1].perRequest >= 1 || alone[1].perRequest < 3.5 {
		t.Errorf("while down: %.2f and %.2f attempts a request reached the server", recommended[1].perRequest, alone[1].perRequest)
	}
	// Once back, (nearly) every request is served or turned away at once by the
	// cool-down; how many are served depends on how much of the phase the
	// cool-down takes, longer on a loaded machine (41 % seen, 74 % alone).
	if after := recommended[2]; after.succeeded == 0 || after.succeeded+after.rejected < 95 {
		t.Errorf("after: %.1f%% succeeded, %.1f%% rejected", after.succeeded, after.rejected)
	}
}
