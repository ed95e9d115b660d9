package live

import (
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/bench/sim"
)

// Every library's client runs through the harness on a short healthy
// scenario: the counts add up, and nearly every request succeeds.
func TestClientsOnAHealthyServer(t *testing.T) {
	sc := sim.Background
	sc.Duration, sc.ErrorRate = 10*time.Second, 0.01
	for _, c := range Clients(40) {
		r := Run(sc, 40, c)
		if r.Requests < 1000 || r.Succeeded+r.Shed > r.Requests || r.Attempts < r.Requests-r.Shed {
			t.Errorf("%s: %d requests, %d succeeded, %d shed, %d attempts", c.Name, r.Requests, r.Succeeded, r.Shed, r.Attempts)
		}
		if r.SuccessRate() < 0.8 {
			t.Errorf("%s: %.1f %% succeeded on a healthy server", c.Name, 100*r.SuccessRate())
		}
	}
}
