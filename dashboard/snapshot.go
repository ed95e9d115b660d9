package dashboard

import (
	"encoding/json"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/watch"
)

// Snapshot is what the stream sends, as JSON: everything watched, now,
// with each circuit's recent history.
type Snapshot struct {
	Time time.Time `json:"time"`
	// Error is why Config.Source could not be read, if it could not:
	// its circuits are missing from this snapshot, or some of them.
	Error string `json:"error,omitempty"`
	// History is how many points a circuit's history keeps: the page
	// appends each snapshot's values to what the first one gave.
	History  int             `json:"history"`
	Circuits []Circuit       `json:"circuits"`
	Retries  []Retry         `json:"retries"`
	Hedges   []watch.Hedge   `json:"hedges"`
	Limiters []watch.Limiter `json:"limiters"`
	// Admissions are the admission controllers of the watch list.
	Admissions []watch.Admission `json:"admissions"`
	// Configurations are the configurations in force the watch list
	// reports (a stackfile.Live's file): where each came from, its
	// reloads, its policies' settings.
	Configurations []watch.Configuration `json:"configurations"`
}

// Circuit is one breaker on the page. Breakers that share a name are one
// circuit: counters summed, the state of the one in the most trouble.
type Circuit struct {
	Name           string  `json:"name"`
	State          string  `json:"state"`
	Breakers       int     `json:"breakers"`
	FailureRate    float64 `json:"failureRate"`
	SlowCallRate   float64 `json:"slowCallRate"`
	CallsPerSecond float64 `json:"callsPerSecond"`
	Calls          uint64  `json:"calls"`
	Rejections     uint64  `json:"rejections"`
	Trips          uint64  `json:"trips"`
	InStateSeconds float64 `json:"inStateSeconds"`
	// ProbeInSeconds is the time until an open circuit lets a probe
	// through; 0 in other states, or when one may go now.
	ProbeInSeconds float64 `json:"probeInSeconds"`
	// Actions are the buttons the page offers for the circuit: none
	// without Config.Actions.
	Actions []Action `json:"actions,omitempty"`
	// History holds the last snapshots' failure rates, slow-call rates
	// and calls a second, oldest first: in snapshot.json and the stream's
	// first event, not in the events after it, which carry the values to
	// append.
	History *History `json:"history,omitempty"`
}

// History is a circuit's recent past, one value per snapshot.
type History struct {
	FailureRate    []float64 `json:"failureRate"`
	SlowCallRate   []float64 `json:"slowCallRate"`
	CallsPerSecond []float64 `json:"callsPerSecond"`
}

// Retry is one retry policy's counters, with its rate of retries.
type Retry struct {
	watch.Retry
	RetriesPerSecond float64 `json:"retriesPerSecond"`
}

// counts are the counters a rate is computed from.
type counts struct {
	at    time.Time
	calls uint64
}

// series is a fixed ring of a circuit's history.
type series struct {
	failure, slow, calls []float64
	seen                 bool // in the current snapshot
}

func (s *series) add(limit int, failure, slow, calls float64) {
	s.failure = push(s.failure, limit, failure)
	s.slow = push(s.slow, limit, slow)
	s.calls = push(s.calls, limit, calls)
}

func push(v []float64, limit int, x float64) []float64 {
	if len(v) == limit {
		copy(v, v[1:])
		v = v[:limit-1]
	}
	return append(v, x)
}

// trouble orders states from the most worrying.
var trouble = map[string]int{"open": 4, "forced-open": 3, "half-open": 2, "disabled": 1, "closed": 0}

// snapshot returns the current snapshot as JSON, with the circuits'
// history or without: the cached one when it is fresher than half an
// interval, so that viewers share one.
func (h *Handler) snapshot(history bool) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.cfg.Clock.Now()
	if h.cached == nil || h.last.IsZero() || now.Sub(h.last) >= h.cfg.Interval/2 {
		h.cached, h.cachedLight = h.take(now)
		h.last = now
	}
	if history {
		return h.cached
	}
	return h.cachedLight
}

// take reads everything watched, adds a point to each circuit's history,
// and encodes the snapshot with the histories and without.
func (h *Handler) take(now time.Time) (full, light []byte) {
	report := h.cfg.Watch.Report()
	s := Snapshot{Time: now, History: h.cfg.History, Hedges: report.Hedges, Limiters: report.Limiters,
		Admissions: report.Admissions, Configurations: report.Configurations}
	index := map[string]int{}
	add := func(m breaker.Metrics, actions []Action) {
		name := watch.ValidName(m.Name)
		i, ok := index[name]
		if !ok {
			i = len(s.Circuits)
			index[name] = i
			s.Circuits = append(s.Circuits, Circuit{Name: name, State: m.State.String(), Actions: actions})
		}
		c := &s.Circuits[i]
		c.Breakers++
		if state := m.State.String(); trouble[state] > trouble[c.State] {
			c.State = state
		}
		if ok {
			c.Actions = common(c.Actions, actions)
		}
		c.FailureRate = max(c.FailureRate, m.FailureRate)
		c.SlowCallRate = max(c.SlowCallRate, m.SlowCallRate)
		c.Calls += m.Calls
		c.Rejections += m.Rejections
		c.Trips += m.Trips
		c.InStateSeconds = max(c.InStateSeconds, m.TimeInState.Seconds())
		c.ProbeInSeconds = max(c.ProbeInSeconds, m.RetryIn.Seconds())
	}
	var actions, sourceActions []Action
	if h.cfg.Actions {
		actions = allActions
	}
	breakers, _ := h.cfg.Watch.Snapshot()
	for _, b := range breakers {
		add(b.Metrics(), actions)
	}
	if src := h.cfg.Source; src != nil {
		if h.cfg.Actions {
			sourceActions = common(allActions, src.Actions())
		}
		circuits, err := src.Circuits()
		if err != nil {
			s.Error = err.Error()
		}
		for _, m := range circuits {
			add(m, sourceActions)
		}
	}
	for name := range h.history {
		h.history[name].seen = false
	}
	for i := range s.Circuits {
		c := &s.Circuits[i]
		c.CallsPerSecond = h.rate(c.Name, now, c.Calls+c.Rejections)
		hs := h.history[c.Name]
		if hs == nil {
			hs = &series{}
			h.history[c.Name] = hs
		}
		hs.seen = true
		hs.add(h.cfg.History, c.FailureRate, c.SlowCallRate, c.CallsPerSecond)
		c.History = &History{FailureRate: hs.failure, SlowCallRate: hs.slow, CallsPerSecond: hs.calls}
	}
	for name, hs := range h.history { // circuits gone (removed, evicted) take their history with them
		if !hs.seen {
			delete(h.history, name)
			delete(h.prev, name)
		}
	}
	for _, r := range report.Retries {
		s.Retries = append(s.Retries, Retry{Retry: r, RetriesPerSecond: h.rate("retry\x00"+r.Name, now, r.Retries)})
	}
	full = encode(s)
	for i := range s.Circuits {
		s.Circuits[i].History = nil
	}
	return full, encode(s)
}

func encode(s Snapshot) []byte {
	b, err := json.Marshal(s)
	if err != nil { // only NaN or Inf could do it, and no metric is either
		b = []byte(`{"error":"` + err.Error() + `"}`)
	}
	return b
}

// rate returns the counter's increase a second since the last snapshot.
func (h *Handler) rate(key string, now time.Time, total uint64) float64 {
	p, ok := h.prev[key]
	h.prev[key] = counts{at: now, calls: total}
	if !ok || total < p.calls {
		return 0
	}
	dt := now.Sub(p.at).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(total-p.calls) / dt
}
