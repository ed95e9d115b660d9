package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
)

// The circuits of `breakwater run` are kept between invocations, so that a
// circuit opened by one invocation turns the next ones away: in a state
// file on one machine (fileStore), or in Redis for every machine that uses
// it (redisStore). Either serialises the updates of a circuit, so that
// concurrent invocations never see a torn or lost update.

// circuitStore keeps the circuits of `breakwater run`.
type circuitStore interface {
	// update runs f on the circuit named key (nil when there is none) at
	// the store's time now, and keeps the circuit f returns; nil removes
	// it. f may run more than once, on fresher state each time, and must
	// depend on nothing but its arguments.
	update(key string, f func(c *circuit, now time.Time) (*circuit, error)) error
	// load returns every circuit and the store's time, changing nothing.
	load() (map[string]*circuit, time.Time, error)
	// remove removes the circuits named keys, or every circuit if all; it
	// returns how many it removed, and the keys it did not find.
	remove(all bool, keys []string) (n int, missing []string, err error)
	// String says where the circuits are, for messages (without secrets).
	String() string
	// Close lets go of what the store holds.
	Close() error
}

// openStore returns the store at location: Redis for a redis:// or
// rediss:// URL, else the state file at that path. warn reports problems
// the store recovered from.
func openStore(location string, warn func(format string, args ...any)) (circuitStore, error) {
	if warn == nil {
		warn = func(string, ...any) {}
	}
	if isRedisURL(location) {
		return newRedisStore(location, os.Getenv, warn)
	}
	return &fileStore{path: location, warn: warn}, nil
}

// circuit is one persisted circuit breaker.
type circuit struct {
	State breaker.State `json:"state"`
	// Generation changes at every transition, so that the outcome of an
	// attempt admitted before a transition does not count after it.
	Generation          int       `json:"generation"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	Trips               int       `json:"trips"`
	OpenUntil           time.Time `json:"open_until,omitzero"`
	ProbeUntil          time.Time `json:"probe_until,omitzero"` // half-open: the probe's lease
	Updated             time.Time `json:"updated"`
	// Since is when the circuit entered its state (or was first seen by a
	// breakwater that records it).
	Since time.Time `json:"since,omitzero"`
	// Attempts, Failures and Rejections count what the circuit saw:
	// attempts that ran and reported back, those that failed, and
	// invocations turned away.
	Attempts   int `json:"attempts,omitzero"`
	Failures   int `json:"failures,omitzero"`
	Rejections int `json:"rejections,omitzero"`
	// Recent holds the outcomes of the last attempts, oldest first: "s"
	// for a success, "f" for a failure; at most recentOutcomes of them.
	Recent string `json:"recent,omitempty"`
}

// recentOutcomes is how many outcomes a circuit's failure rate is over.
const recentOutcomes = 20

// circuitRules are the breaker settings of an invocation.
type circuitRules struct {
	failures int           // consecutive failures that open the circuit
	openFor  time.Duration // how long it stays open
	lease    time.Duration // how long a probe holds the half-open circuit
}

// The circuit's logic is a real breaker's: each step restores one from the
// file's snapshot on a clock stopped at the step's time, runs the step
// through it, and keeps the snapshot it leaves. What the breaker cannot
// know is the file's: the probe lease that one invocation holds against
// the others, and the lifetime counts the dashboard shows.

// breaker returns a breaker holding c's state at now. probe is asked
// before a half-open breaker admits a probe.
func (c *circuit) breaker(key string, now time.Time, rules circuitRules, probe func() bool) *breaker.Breaker {
	b, err := breaker.New(breaker.Config{Name: key, Trip: breaker.Consecutive(max(rules.failures, 1)),
		OpenDuration: max(rules.openFor, time.Millisecond), Clock: clocktest.NewFake(now),
		HalfOpen: breaker.Probes{Max: 1, Allow: func(string) bool { return probe() }}})
	if err != nil {
		panic(err) // the flags are checked before any circuit is touched
	}
	snap := breaker.Snapshot{State: c.State, Generation: uint64(max(c.Generation, 0)), Since: c.Since,
		Until: c.OpenUntil, ConsecutiveFailures: max(c.ConsecutiveFailures, 0)}
	if snap.State == breaker.Open && snap.Until.IsZero() {
		snap.Until = now // an open circuit that never said until when: due
	}
	if b.Restore(snap) != nil { // a state this version does not know: start afresh
		b.Reset()
	}
	return b
}

// keep takes the state b has moved to at now.
func (c *circuit) keep(b *breaker.Breaker, now time.Time) {
	s := b.Snapshot()
	if s.State == breaker.Open && c.State != breaker.Open {
		c.Trips++
	}
	if s.Generation != uint64(max(c.Generation, 0)) {
		c.ProbeUntil = time.Time{} // a new stay: no probe holds it
	}
	c.State, c.Generation, c.Since = s.State, int(s.Generation), s.Since
	c.OpenUntil, c.ConsecutiveFailures = s.Until, s.ConsecutiveFailures
	c.Updated = now
}

// admit decides whether an attempt may run at now. It returns the
// generation to report the outcome against, and an error matching
// breaker.ErrOpen when the circuit turns it away.
func (c *circuit) admit(key string, now time.Time, rules circuitRules) (gen int, err error) {
	if c.Since.IsZero() {
		c.Since = now
	}
	b := c.breaker(key, now, rules, func() bool { return !now.Before(c.ProbeUntil) })
	p, err := b.Allow(context.Background())
	c.keep(b, now)
	if err != nil {
		c.Rejections++
		return 0, err
	}
	if c.State == breaker.HalfOpen {
		c.ProbeUntil = now.Add(rules.lease) // the others wait for this probe
	}
	p.Release()
	return c.Generation, nil
}

// record counts the outcome of an attempt admitted in generation gen.
func (c *circuit) record(key string, gen int, failed bool, now time.Time, rules circuitRules) {
	c.Attempts++
	outcome := "s"
	if failed {
		c.Failures++
		outcome = "f"
	}
	c.Recent += outcome
	c.Recent = c.Recent[max(len(c.Recent)-recentOutcomes, 0):]
	if gen != c.Generation || c.State == breaker.Open {
		return // the circuit changed while the attempt ran
	}
	b := c.breaker(key, now, rules, func() bool { return true }) // the probe was admitted
	p, err := b.Allow(context.Background())
	if err != nil {
		return // turned away (forced open): nothing to count
	}
	var result error
	if failed {
		result = errAttemptFailed
	}
	p.Done(result)
	c.keep(b, now)
}

// errAttemptFailed is the outcome the breaker is told of a failed attempt.
var errAttemptFailed = errors.New("attempt failed")

// release gives back the probe lease of an attempt admitted in generation
// gen whose outcome is not recorded (it was interrupted, or could not
// start), so that the next invocation may probe at once.
func (c *circuit) release(gen int) {
	if gen == c.Generation && c.State == breaker.HalfOpen {
		c.ProbeUntil = time.Time{}
	}
}

// close closes the circuit, as the dashboard's Reset does: unlike
// "breakwater reset", which forgets the circuit, it keeps its counts.
func (c *circuit) close(key string, now time.Time) {
	b := c.breaker(key, now, circuitRules{}, func() bool { return true })
	b.Reset()
	c.keep(b, now)
	c.Recent = ""
}

// open opens the circuit for rules.openFor, as the dashboard's Trip does.
func (c *circuit) open(key string, now time.Time, rules circuitRules) {
	b := c.breaker(key, now, rules, func() bool { return true })
	b.Trip()
	c.keep(b, now)
}

// metrics returns what the dashboard shows of the circuit named key at now.
func (c *circuit) metrics(key string, now time.Time) breaker.Metrics {
	m := breaker.Metrics{
		Name: key, State: c.State,
		Calls: uint64(max(c.Attempts, 0)), Failures: uint64(max(c.Failures, 0)), Rejections: uint64(max(c.Rejections, 0)),
		Successes: uint64(max(c.Attempts-c.Failures, 0)), Trips: uint64(max(c.Trips, 0)),
		WindowCalls: len(c.Recent),
	}
	if c.State == breaker.Closed {
		m.ConsecutiveFailures = c.ConsecutiveFailures
	}
	if len(c.Recent) > 0 {
		m.FailureRate = float64(strings.Count(c.Recent, "f")) / float64(len(c.Recent))
	}
	if !c.Since.IsZero() {
		m.TimeInState = max(now.Sub(c.Since), 0)
	}
	if c.State == breaker.Open {
		m.RetryIn = max(c.OpenUntil.Sub(now), 0)
	}
	return m
}

// defaultStatePath is $BREAKWATER_STATE (a file or a Redis URL), or
// circuits.json in the user's state directory.
func defaultStatePath() string {
	if p := os.Getenv("BREAKWATER_STATE"); p != "" {
		return p
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "breakwater", "circuits.json")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "breakwater", "circuits.json")
	}
	return filepath.Join(os.TempDir(), "breakwater", "circuits.json")
}
