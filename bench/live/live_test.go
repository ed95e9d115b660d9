package live

import (
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/internal/sim"
)

// Every library's client runs through the harness on a short healthy
// scenario, slowed to a tenth of the benchmark's compression so that a
// loaded test machine's scheduler cannot time calls out: the counts add
// up, and what does not succeed was shed by the library, not failed.
func TestClientsOnAHealthyServer(t *testing.T) {
	const scale = 4
	sc := sim.Background
	sc.Duration, sc.ErrorRate = 4*time.Second, 0.01
	for _, c := range Clients(scale) {
		r := Run(sc, scale, c)
		if r.Requests < 300 || r.Succeeded+r.Shed > r.Requests || r.Attempts < r.Requests-r.Shed {
			t.Errorf("%s: %d requests, %d succeeded, %d shed, %d attempts", c.Name, r.Requests, r.Succeeded, r.Shed, r.Attempts)
		}
		if failed := r.Requests - r.Succeeded - r.Shed; failed > r.Requests/10 {
			t.Errorf("%s: %d of %d requests failed on a healthy server", c.Name, failed, r.Requests)
		}
	}
}
