package stackfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
	"github.com/breakwater-go/breakwater/timeout"
)

// File is a configuration file, read and checked: its policies by name,
// its stacks, and the limits `breakwater verify` holds its stacks to.
type File struct {
	// Origin is where it was read from: a path, or what Parse was told.
	Origin string
	// Policies are the named policies. Each has exactly one of its
	// configurations set, with Name set to the policy's name.
	Policies map[string]Policy
	// Stacks are the named stacks: policy names, outermost first.
	Stacks map[string][]string
	// Limits are the verify section, its defaults filled in.
	Limits Limits
}

// Policy is one named policy of a file: one of its fields is set. The
// fields a file cannot express (functions, hooks, clocks) are zero.
type Policy struct {
	Retry     *retry.Config
	Budget    *retry.BudgetConfig // the retry's own budget's, when the file sets one; nil: the default
	Breaker   *breaker.Config
	Timeout   *timeout.Config
	Bulkhead  *bulkhead.Config
	RateLimit *ratelimit.Config
	Throttle  *throttle.Config
	Adaptive  *adaptive.Config
	Hedge     *hedge.Config

	kind      string
	spec      string   // the policy's configuration after overrides: equal specs build equal policies
	settings  string   // the file's JSON of the policy
	overrides []string // the environment's overrides of it, NAME=value
}

// Kind names the policy's kind: "retry", "breaker", "timeout",
// "bulkhead", "rateLimit", "throttle", "adaptive" or "hedge".
func (p Policy) Kind() string { return p.kind }

// Limits are what `breakwater verify` holds every stack to, in the
// simulator's scenarios. A zero field of a file means its default.
type Limits struct {
	// MaxAmplification bounds the attempts a request sends to the
	// dependency in the metastable scenario. Default 2: a retry budget
	// keeps it near 1; retries alone reach 3.2.
	MaxAmplification float64
	// MaxRecovery bounds the time from the end of the metastable trigger
	// (and of the outage) until the success rate holds at 95 %. Default
	// 30s; a stack that never recovers always fails.
	MaxRecovery time.Duration
	// MaxWastedWork bounds the share of the server's work spent on
	// attempts whose client had given up, in the metastable scenario.
	// Default 0.5.
	MaxWastedWork float64
	// MaxOutageLoad bounds the attempts sent to a dependency that is down,
	// as a multiple of the requests made meanwhile (the outage scenario).
	// Default 2: retries without a budget send 3.9.
	MaxOutageLoad float64
	// MaxFalseTrips bounds the circuits opened, and MaxFalseShed the share
	// of calls turned away, when 5 % of the calls fail at random and
	// nothing else is wrong (the background scenario). Defaults 0 and 0.01.
	MaxFalseTrips int
	MaxFalseShed  float64
}

// defaultLimits are the limits of a file that sets none.
var defaultLimits = Limits{MaxAmplification: 2, MaxRecovery: 30 * time.Second, MaxWastedWork: 0.5,
	MaxOutageLoad: 2, MaxFalseShed: 0.01}

// Error is a file that cannot be used: its path, the path of the field
// inside it (policies.api.breaker.openDuration), and why. It wraps the
// policy's *config.Error when the policy's constructor refused the value,
// so errors.Is(err, config.ErrInvalid) matches every Error.
type Error struct {
	File, Path, Reason string
	Err                error // the constructor's error, if it was one
}

func (e *Error) Error() string {
	s := e.File
	if e.Path != "" {
		s += ": " + e.Path
	}
	return s + ": " + e.Reason
}

// Unwrap returns the constructor's error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is config.ErrInvalid.
func (e *Error) Is(target error) bool { return target == config.ErrInvalid }

// Load reads the file at path, with the overrides of the process's
// environment (EnvPrefix), and checks it: every policy is built once, so
// that a value its constructor refuses is an error here.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path, os.Environ())
}

// Parse reads a file's contents, with the overrides among env (in the
// form of os.Environ: "NAME=value"); origin names it in errors.
func Parse(data []byte, origin string, env []string) (*File, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, &Error{File: origin, Reason: "not JSON: " + err.Error()}
	}
	if dec.More() {
		return nil, &Error{File: origin, Reason: "not JSON: more than one value"}
	}
	d := &decoder{file: origin, env: map[string]string{}, used: map[string]bool{}}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix+"POLICIES_") || strings.HasPrefix(name, EnvPrefix+"VERIFY_") {
			d.env[name] = value
		}
	}
	f := &File{Origin: origin, Policies: map[string]Policy{}, Stacks: map[string][]string{}, Limits: defaultLimits}
	d.object("", root, fields{
		"policies": func(path string, v any) { d.policies(f, path, v) },
		"stacks":   func(path string, v any) { d.stacks(f, path, v) },
		"verify":   func(path string, v any) { d.limits(&f.Limits, path, v) },
	})
	for _, name := range sortedKeys(d.env) {
		if d.err == nil && !d.used[name] {
			d.err = &Error{File: origin, Path: name, Reason: "the environment overrides no field of the file (a misspelt name, or a policy it does not have)"}
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return f, nil
}

// stacks reads the stacks: lists of the names of policies of the file.
func (d *decoder) stacks(f *File, path string, v any) {
	m, ok := v.(map[string]any)
	if v != nil && !ok {
		d.fail(path, "must be an object of stacks, got %s", describe(v))
		return
	}
	for _, name := range sortedKeys(m) {
		p := join(path, name)
		list, ok := m[name].([]any)
		if !ok || len(list) == 0 {
			d.fail(p, "must be a list of policy names, outermost first, got %s", describe(m[name]))
			return
		}
		var names []string
		for i, e := range list {
			s, ok := e.(string)
			if !ok {
				d.fail(p+"["+itoa(i)+"]", "must be a policy name, got %s", describe(e))
				return
			}
			if slices.Contains(names, s) {
				d.fail(p+"["+itoa(i)+"]", "%q is in the stack twice", s)
				return
			}
			names = append(names, s)
		}
		f.Stacks[name] = names
	}
}

// check makes sure every stack names policies of the file, and builds
// every policy once, so that a value its constructor refuses is an error
// of the file.
func (f *File) check() error {
	for _, name := range sortedKeys(f.Stacks) {
		for i, p := range f.Stacks[name] {
			if _, ok := f.Policies[p]; !ok {
				return &Error{File: f.Origin, Path: "stacks." + name + "[" + itoa(i) + "]",
					Reason: "no policy is named " + p + " (policies: " + strings.Join(sortedKeys(f.Policies), ", ") + ")"}
			}
		}
	}
	for _, name := range sortedKeys(f.Policies) {
		if _, err := build(f.Policies[name], Options{}, nil); err != nil {
			return f.refused(name, f.Policies[name], err)
		}
	}
	return nil
}

// refused is the Error of a policy whose constructor refused its
// configuration: the path of the field the constructor named.
func (f *File) refused(name string, p Policy, err error) error {
	path := "policies." + name + "." + p.kind
	var ce *config.Error
	if errors.As(err, &ce) {
		path += "." + jsonPath(ce.Field)
	}
	return &Error{File: f.Origin, Path: path, Reason: err.Error(), Err: err}
}

// jsonPath is a Config field's path as the file spells it:
// Trip.MinCalls is trip.minCalls (the trip's kind is not in the Config's
// path; the reason names the field exactly).
func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToLower(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, ".")
}

func itoa(i int) string { return strconv.Itoa(i) }
