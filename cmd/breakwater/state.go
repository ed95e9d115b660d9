package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
)

// The state file holds the circuits of `breakwater run`, so that a circuit
// opened by one invocation turns the next ones away. Every read-modify-write
// holds an exclusive lock on a lock file beside it, and every write goes to
// a temporary file that is renamed over the old one, so that concurrent
// invocations never see a torn or lost update.

const stateVersion = 1

type stateFile struct {
	Version  int                 `json:"version"`
	Circuits map[string]*circuit `json:"circuits"`
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

// store is the state file at path.
type store struct {
	path string
	warn func(format string, args ...any) // reports recovered problems
}

// update runs f on the state under the file lock and saves what f leaves.
func (s *store) update(f func(*stateFile) error) error {
	path, err := s.file()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer unlock()
	st, err := s.read(path, true)
	if err != nil {
		return err
	}
	if err := f(st); err != nil {
		return err
	}
	return s.write(path, st)
}

// file returns the file the state lives in: the store's path, or the file
// it is a symbolic link to, so that every process naming the link or its
// target shares one state and one lock. It refuses a path in a directory
// that others could have planted a link in, as ssh refuses a loose key
// file: one writable by other users without the sticky bit, or owned by
// another user; and, in a sticky directory (the system's temporary one),
// a link that another user owns.
func (s *store) file() (string, error) {
	if err := safeDir(filepath.Dir(s.path)); err != nil {
		return "", err
	}
	fi, err := os.Lstat(s.path)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return s.path, nil // missing (made on first write) or a file
	}
	if err := safeLink(s.path, fi); err != nil {
		return "", err
	}
	target, err := filepath.EvalSymlinks(s.path)
	if errors.Is(err, fs.ErrNotExist) { // a link to a file not made yet
		if target, err = os.Readlink(s.path); err == nil && !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(s.path), target)
		}
	}
	if err != nil {
		return "", err
	}
	if err := safeDir(filepath.Dir(target)); err != nil {
		return "", err
	}
	return target, nil
}

// load reads the state without changing it or taking the lock: writes
// replace the file atomically, so a reader sees one whole version. It is
// for status, and for run when the state cannot be updated.
func (s *store) load() (*stateFile, error) {
	path, err := s.file()
	if err != nil {
		return nil, err
	}
	return s.read(path, false)
}

// errNewer is a state file written by a newer breakwater: never repaired
// or overwritten.
var errNewer = errors.New("written by a newer version of breakwater")

// read parses the state file. A missing file is an empty state. Entries
// that are null are dropped. A corrupt file is an error, unless repair is
// set: then it is moved aside (to one .corrupt file, replacing an earlier
// one), reported, and replaced by an empty state. A file of a newer
// version is never repaired.
func (s *store) read(path string, repair bool) (*stateFile, error) {
	empty := &stateFile{Version: stateVersion, Circuits: map[string]*circuit{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return nil, err
	}
	var st stateFile
	err = json.Unmarshal(data, &st)
	switch {
	case err == nil && st.Version > stateVersion:
		return nil, fmt.Errorf("state file %s is %w (format %d; this one reads %d)", path, errNewer, st.Version, stateVersion)
	case err == nil && st.Version < 1:
		err = fmt.Errorf("no valid version (%d)", st.Version)
	}
	if err != nil {
		if !repair {
			return nil, fmt.Errorf("state file %s is corrupt (%v); the next \"breakwater run\" will set it aside", path, err)
		}
		aside := path + ".corrupt"
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("state file %s is corrupt (%v) and cannot be moved aside: %w", path, err, rerr)
		}
		s.warn("state file %s was corrupt (%v); kept it as %s and started afresh", path, err, aside)
		return empty, nil
	}
	if st.Circuits == nil {
		st.Circuits = map[string]*circuit{}
	}
	for k, c := range st.Circuits {
		if c == nil {
			delete(st.Circuits, k)
		}
	}
	return &st, nil
}

// write replaces the state file at path atomically, keeping its mode.
func (s *store) write(path string, st *stateFile) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil { // a file shared by a group stays so
		if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			return err
		}
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// defaultStatePath is $BREAKWATER_STATE, or circuits.json in the user's
// state directory.
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
