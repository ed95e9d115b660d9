package bwhttp

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/registry"
)

// CircuitStatus is one breaker as the health handler reports it.
type CircuitStatus struct {
	Name                string        `json:"name"`
	State               breaker.State `json:"state"`
	Calls               uint64        `json:"calls"`
	Successes           uint64        `json:"successes"`
	Failures            uint64        `json:"failures"`
	Rejections          uint64        `json:"rejections"`
	SlowCalls           uint64        `json:"slow_calls"`
	Trips               uint64        `json:"trips"`
	ConsecutiveFailures int           `json:"consecutive_failures"`
	FailureRate         float64       `json:"failure_rate"`
	SecondsInState      float64       `json:"seconds_in_state"`
	RetryInSeconds      float64       `json:"retry_in_seconds"`
	// OpenedAt and OpenedBy say when and why a circuit that is not closed
	// tripped; ConsecutiveFailures, WindowCalls and FailureRate are then
	// the figures at that trip (breaker.Metrics).
	WindowCalls int       `json:"window_calls"`
	OpenedAt    time.Time `json:"opened_at,omitzero"`
	OpenedBy    string    `json:"opened_by,omitempty"`
}

// Health is the health handler's document.
type Health struct {
	// Status is "ok" when every circuit is closed (or disabled), and
	// "degraded" otherwise.
	Status   string          `json:"status"`
	Circuits []CircuitStatus `json:"circuits"`
}

// HealthHandler serves the breakers of reg as JSON, sorted by name, like
//
//	{"status":"degraded","circuits":[{"name":"payments-api","state":"open",...}]}
//
// It always answers 200: a dependency's open circuit is information about
// the dependency, not a reason to take this service out of rotation.
func HealthHandler(reg *registry.Registry[*breaker.Breaker]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := Health{Status: "ok", Circuits: []CircuitStatus{}}
		for _, b := range reg.All() {
			m := b.Metrics()
			if m.State != breaker.Closed && m.State != breaker.Disabled {
				h.Status = "degraded"
			}
			h.Circuits = append(h.Circuits, CircuitStatus{
				Name: m.Name, State: m.State, Calls: m.Calls, Successes: m.Successes, Failures: m.Failures,
				Rejections: m.Rejections, SlowCalls: m.SlowCalls, Trips: m.Trips,
				ConsecutiveFailures: m.ConsecutiveFailures, FailureRate: m.FailureRate, WindowCalls: m.WindowCalls,
				SecondsInState: m.TimeInState.Seconds(), RetryInSeconds: m.RetryIn.Seconds(),
			})
			if !m.OpenedAt.IsZero() {
				c := &h.Circuits[len(h.Circuits)-1]
				c.OpenedAt, c.OpenedBy = m.OpenedAt, m.OpenedBy.String()
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(h)
	})
}
