package watch

import (
	"time"

	"github.com/breakwater-go/breakwater/admission"
)

// Admission is what an exporter reports for the admission controllers of
// one name: counters summed, Limit, InFlight and Queued summed, QueueDelay
// the longest, Standing if any stands.
type Admission struct {
	Name string // valid UTF-8, as Circuit.Name
	// Admitted counts the requests admitted, by priority; Shed those
	// shed, by priority and reason (only counts above zero).
	Admitted map[admission.Priority]uint64
	Shed     map[admission.Priority]map[admission.Reason]uint64
	// Canceled counts the requests whose client went away while queued.
	Canceled                uint64
	Limit, InFlight, Queued int
	// QueueDelay is how long the last request served from a queue waited.
	QueueDelay time.Duration
	// Standing reports a queue that has not emptied for an Interval.
	Standing bool
}

// addAdmission adds c.
func (l *List) addAdmission(c *admission.Controller) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.admissions = append(l.admissions, c)
}

// admissionsNow returns one Admission per name, sorted by name; a controller
// added twice is reported once.
func (l *List) admissionsNow() []Admission {
	l.mu.Lock()
	cs := unique(l.admissions)
	l.mu.Unlock()
	return fold(cs, (*admission.Controller).Metrics, func(m admission.Metrics) string { return m.Name },
		func(name string, _ admission.Metrics) Admission {
			return Admission{Name: name, Admitted: map[admission.Priority]uint64{}, Shed: map[admission.Priority]map[admission.Reason]uint64{}}
		},
		func(a *Admission, _ *admission.Controller, m admission.Metrics) {
			for p, n := range m.Admitted {
				a.Admitted[p] += n
			}
			for p, byReason := range m.Shed {
				if a.Shed[p] == nil {
					a.Shed[p] = map[admission.Reason]uint64{}
				}
				for r, n := range byReason {
					a.Shed[p][r] += n
				}
			}
			a.Canceled += m.Canceled
			a.Limit += m.Limit
			a.InFlight += m.InFlight
			a.Queued += m.Queued
			a.QueueDelay = max(a.QueueDelay, m.QueueDelay)
			a.Standing = a.Standing || m.Standing
		})
}
