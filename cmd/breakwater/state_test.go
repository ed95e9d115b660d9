package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
)

func TestPersistedCircuit(t *testing.T) {
	rules := circuitRules{failures: 2, openFor: time.Minute, lease: time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var c circuit

	g, err := c.admit("k", t0, rules)
	if err != nil {
		t.Fatal(err)
	}
	late, _ := c.admit("k", t0, rules) // an attempt still running when the circuit opens
	c.record("k", g, true, t0, rules)
	g, _ = c.admit("k", t0, rules)
	c.record("k", g, true, t0, rules)
	if c.State != breaker.Open || c.Trips != 1 || !c.OpenUntil.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after 2 failures: %+v", c)
	}
	c.record("k", late, false, t0, rules) // a late success must not close it
	if c.State != breaker.Open {
		t.Fatal("a late result changed the new state")
	}

	if _, err := c.admit("k", t0.Add(59*time.Second), rules); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("open: %v", err)
	}
	probe, err := c.admit("k", t0.Add(time.Minute), rules)
	if err != nil || c.State != breaker.HalfOpen {
		t.Fatalf("after the cool-down: %v, %v", err, c.State)
	}
	var oe *breaker.OpenError
	if _, err := c.admit("k", t0.Add(time.Minute+time.Second), rules); !errors.As(err, &oe) || oe.State != breaker.HalfOpen {
		t.Fatalf("a second prober must wait: %v", err)
	}
	c.record("k", probe, true, t0.Add(61*time.Second), rules)
	if c.State != breaker.Open || c.Trips != 2 {
		t.Fatalf("a failed probe must reopen: %+v", c)
	}

	// A prober that never reports back loses its lease after openFor.
	t1 := c.OpenUntil
	if _, err := c.admit("k", t1, rules); err != nil {
		t.Fatal(err)
	}
	probe, err = c.admit("k", t1.Add(time.Minute), rules)
	if err != nil {
		t.Fatalf("the lease should have expired: %v", err)
	}
	c.record("k", probe, false, t1.Add(time.Minute), rules)
	if c.State != breaker.Closed || c.ConsecutiveFailures != 0 {
		t.Fatalf("a successful probe must close: %+v", c)
	}
}

// What the dashboard shows of a persisted circuit: the failure rate over
// its last outcomes, its counts, the time in its state and until its
// probe; close keeps the counts and starts the rate afresh.
func TestPersistedCircuitMetrics(t *testing.T) {
	rules := circuitRules{failures: 3, openFor: time.Minute, lease: time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var c circuit
	for i := range recentOutcomes + 5 { // successes then failures, more than the rate is over
		g, _ := c.admit("k", t0, rules)
		c.record("k", g, i >= recentOutcomes+2, t0, rules)
	}
	c.admit("k", t0.Add(10*time.Second), rules) // turned away
	m := c.metrics("k", t0.Add(40*time.Second))
	want := breaker.Metrics{Name: "k", State: breaker.Open, Calls: 25, Successes: 22, Failures: 3, Rejections: 1, Trips: 1,
		WindowCalls: recentOutcomes, FailureRate: 3.0 / recentOutcomes, TimeInState: 40 * time.Second, RetryIn: 20 * time.Second}
	if m != want {
		t.Errorf("open:\n got %+v\nwant %+v", m, want)
	}
	c.close("k", t0.Add(time.Hour))
	m = c.metrics("k", t0.Add(time.Hour+time.Second))
	if m.State != breaker.Closed || m.Calls != 25 || m.WindowCalls != 0 || m.FailureRate != 0 || m.TimeInState != time.Second || m.RetryIn != 0 {
		t.Errorf("closed: %+v", m)
	}
	// A circuit written by an earlier breakwater has none of these.
	old := circuit{State: breaker.Open, Trips: 1, OpenUntil: t0.Add(time.Minute)}
	if m := old.metrics("old", t0); m.TimeInState != 0 || m.RetryIn != time.Minute || m.Calls != 0 {
		t.Errorf("an earlier circuit: %+v", m)
	}
}

// Whatever the state file holds, reading it neither panics nor yields a
// circuit the dashboard cannot show or an invocation cannot use; what
// parses writes back and reads the same.
func FuzzStateFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"circuits":{"k":{"state":"open","generation":3,"trips":2,"open_until":"2026-01-01T00:01:00Z","recent":"ssff"}}}`))
	f.Add([]byte(`{"version":1,"circuits":{"k":{"state":7,"attempts":-5,"failures":9,"rejections":-1,"recent":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},"n":null}}`))
	f.Add([]byte(`{"version":1,"circuits":{"k":{"state":"half-open","since":"9999-12-31T23:59:59Z","probe_until":"0001-01-01T00:00:00Z"}}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{not json`))
	rules := circuitRules{failures: 2, openFor: time.Minute, lease: time.Minute}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &fileStore{path: filepath.Join(t.TempDir(), "state.json"), warn: func(string, ...any) {}}
		if err := os.WriteFile(s.path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := s.loadAll()
		if err != nil {
			return
		}
		now := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
		for key, c := range st.Circuits {
			m := c.metrics(key, now)
			if m.FailureRate < 0 || m.FailureRate > 1 || m.TimeInState < 0 || m.RetryIn < 0 {
				t.Fatalf("%q: %+v", key, m)
			}
		}
		if err := s.write(s.path, st); err != nil {
			t.Fatal(err)
		}
		again, err := s.loadAll()
		if err != nil || len(again.Circuits) != len(st.Circuits) {
			t.Fatalf("written state reads back as %v, %v", again, err)
		}
		for key, c := range again.Circuits {
			if g, err := c.admit(key, now, rules); err == nil {
				c.record("k", g, true, now, rules)
			}
			if len(c.Recent) > recentOutcomes+len(st.Circuits[key].Recent) {
				t.Fatalf("%q: recent outcomes grew to %d", key, len(c.Recent))
			}
		}
	})
}
