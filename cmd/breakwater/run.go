package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/breakwater-go/breakwater/outcome"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/retry"
)

// Exit statuses of breakwater itself, besides the command's own.
const (
	exitUsage         = 2   // bad flags
	exitStateUnusable = 74  // --strict-state, and the state cannot be used (EX_IOERR)
	exitOpen          = 75  // the default of --open-exit: the circuit is open (EX_TEMPFAIL)
	exitTimedOut      = 124 // an attempt ran out of --timeout or --max-time (as timeout(1))
	exitCannotRun     = 126 // the command could not be started
	exitNotFound      = 127 // the command does not exist
	exitInterrupted   = 130 // breakwater was interrupted
)

// killGrace is how long a command asked to stop (SIGTERM) has before it is
// killed.
const killGrace = 10 * time.Second

const runUsage = `Usage: breakwater run [flags] -- COMMAND [ARGS...]

Runs COMMAND, retrying it while it fails, behind a circuit breaker whose state
is kept between invocations, in a file or in Redis (--state): once COMMAND has
failed --failures
times in a row (across invocations), further invocations with the same --key
are turned away without running it until --open-for has passed; then one
invocation probes, and its success closes the circuit again.

What is retried: a failed attempt whose exit status is in --retry-on (and,
with --retry-on-output, whose output matches it), and an attempt stopped by
--timeout. What counts against the circuit: by default what is retried
(--fail-on retried); other non-zero statuses are the command's own verdict,
not a sign that what it calls is down.

COMMAND's output passes through; breakwater's own lines go to standard error
(--quiet keeps only those that explain its exit status). Standard input is
given to every attempt: from a pipe it is read to its end first.

An attempt stopped by a time limit or an interrupt is stopped with what it
started (its process group, as timeout(1) does): SIGTERM, then SIGKILL to
what is left 10 s later. When standard input is a terminal, the command
keeps the terminal's process group, and only COMMAND itself is signalled.

Exit status: COMMAND's own, its last attempt's (also when the attempts, the
time or an opening circuit stopped the retries), unless --exhausted-exit is
set; --open-exit (75) when the circuit is open and COMMAND was not run at
all; 124 when the last attempt ran out of --timeout or --max-time; 126 when
COMMAND cannot be started; 127 when it is not found; 130 when interrupted;
74 with --strict-state when the state cannot be used; 2 for bad flags.

With --state redis://[user:password@]host:port/db (or rediss:// for TLS),
every runner that uses that Redis shares the circuits: one that opens turns
the whole fleet's invocations away, and a half-open circuit lets exactly one
invocation probe. Times are Redis's, so runners' clocks need not agree. The
password may come from $BREAKWATER_REDIS_PASSWORD instead of the URL. When
Redis cannot be reached (each call waits at most 1 s), the command runs
without a circuit, with a warning, and its exit status is its own, unless
--strict-state.
`

type runFlags struct {
	key                string
	attempts           int
	delay, maxDelay    *time.Duration
	multiplier         float64
	jitter             string
	timeout, maxTime   *time.Duration
	retryOn, failOn    string
	retryOnOutput      string
	failures           int
	openFor            *time.Duration
	openExit           int
	statePath          string
	strictState, quiet bool
	exhaustedExit      optionalStatus
}

var jitters = map[string]retry.Jitter{
	"proportional": retry.JitterProportional, "none": retry.JitterNone, "full": retry.JitterFull,
	"equal": retry.JitterEqual, "decorrelated": retry.JitterDecorrelated,
}

func runCommand() (*command, *runFlags) {
	c := newCommand("run", runUsage)
	fs := c.fs
	f := &runFlags{}
	fs.StringVar(&f.key, "key", "", "circuit `name`; invocations with the same key share a circuit (default: the command line)")
	intFlag(fs, &f.attempts, "attempts", 4, "attempts in all, the first included")
	f.delay = durationFlag(fs, "delay", time.Second, "`duration` before the first retry")
	f.maxDelay = durationFlag(fs, "max-delay", 30*time.Second, "longest `duration` between attempts")
	fs.Float64Var(&f.multiplier, "multiplier", 2, "growth of the delay at each retry; 1 keeps it constant")
	fs.StringVar(&f.jitter, "jitter", "proportional", "jitter: proportional (±20%), none, full, equal or decorrelated")
	f.timeout = durationFlag(fs, "timeout", 0, "stop an attempt that runs this `duration` (SIGTERM to it and what it started, SIGKILL 10s later); it counts as failed and is retried (default: no limit)")
	f.maxTime = durationFlag(fs, "max-time", 0, "stop everything after this `duration`, the running attempt included; no attempt starts that could not finish its delay within it (default: no limit)")
	fs.StringVar(&f.retryOn, "retry-on", "any", "exit `codes` to retry, comma-separated, or any (every non-zero status)")
	fs.StringVar(&f.retryOnOutput, "retry-on-output", "", "retry a failed attempt only if a line of its output matches this `regexp` (and its status is in --retry-on)")
	fs.StringVar(&f.failOn, "fail-on", "retried", "what counts against the circuit: retried (what --retry-on and --retry-on-output retry), any (every non-zero status), or exit `codes`")
	intFlag(fs, &f.failures, "failures", int(breakerDefaults().Trip.(breaker.Consecutive)), "consecutive failed attempts that open the circuit")
	f.openFor = durationFlag(fs, "open-for", breakerDefaults().OpenDuration, "the `duration` for which an open circuit turns invocations away")
	intFlag(fs, &f.openExit, "open-exit", exitOpen, "exit `status` when the circuit is open and the command was not run")
	fs.Var(&f.exhaustedExit, "exhausted-exit", "exit `status` when the retries were stopped by a limit (default: the command's last)")
	fs.StringVar(&f.statePath, "state", "", "state `file`, or redis://host:port/db URL (default: $BREAKWATER_STATE, else $XDG_STATE_HOME/breakwater/circuits.json, else ~/.local/state/breakwater/circuits.json)")
	fs.BoolVar(&f.strictState, "strict-state", false, "refuse to run the command (exit 74) when the state cannot be read or written (a file locked, Redis reached); by default it runs without a circuit, unless the state it can read says the circuit is open")
	fs.BoolVar(&f.quiet, "quiet", false, "print only the lines that explain breakwater's own exit status")
	return c, f
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	c, f := runCommand()
	if status, done := c.parse(args, stdout, stderr); done {
		return status
	}
	command := c.fs.Args()
	if len(command) == 0 {
		return c.fail(stderr, "no command given (put it after --)")
	}
	if f.statePath == "" {
		f.statePath = defaultStatePath()
	}
	r := &runner{f: *f, command: command, stdout: stdout, stderr: stderr}
	if err := r.configure(); err != nil {
		return c.fail(stderr, "%v", err)
	}
	store, err := openStore(f.statePath, r.tell)
	if err != nil {
		return c.fail(stderr, "--state: %v", err)
	}
	defer store.Close()
	r.store = store
	ctx, stop := signalContext()
	defer stop()
	return r.run(ctx)
}

type runner struct {
	f              runFlags
	command        []string
	retryCodes     map[int]bool   // nil: every non-zero status
	failCodes      map[int]bool   // nil: as retried, unless failAny
	failAny        bool           // every non-zero status fails
	pattern        *regexp.Regexp // --retry-on-output
	rules          circuitRules
	store          circuitStore
	stdout, stderr io.Writer

	stdin   *stdinSource
	noState bool       // the state is unusable: run without a circuit
	ran     int        // attempts that ran the command
	last    *exitError // the last attempt's failure
	opened  bool       // the circuit opened on an attempt of this invocation
}

// configure checks the flags and derives the runner's rules from them.
func (r *runner) configure() error {
	f := &r.f
	switch {
	case f.attempts < 1:
		return fmt.Errorf("--attempts must be at least 1, got %d", f.attempts)
	case *f.delay < 0:
		return fmt.Errorf("--delay must not be negative, got %v", *f.delay)
	case *f.maxDelay < *f.delay:
		return fmt.Errorf("--max-delay (%v) must not be below --delay (%v)", *f.maxDelay, *f.delay)
	case !(f.multiplier >= 1 && f.multiplier <= 1000):
		return fmt.Errorf("--multiplier must be between 1 and 1000, got %v", f.multiplier)
	case *f.timeout < 0:
		return fmt.Errorf("--timeout must not be negative, got %v", *f.timeout)
	case *f.maxTime < 0:
		return fmt.Errorf("--max-time must not be negative, got %v", *f.maxTime)
	case f.failures < 1 || f.failures > 1_000_000:
		return fmt.Errorf("--failures must be between 1 and 1000000, got %d", f.failures)
	case *f.openFor <= 0:
		return fmt.Errorf("--open-for must be positive, got %v", *f.openFor)
	case f.openExit < 1 || f.openExit > 255:
		return fmt.Errorf("--open-exit must be between 1 and 255, got %d: an open circuit must not look like success to the pipeline", f.openExit)
	}
	if _, ok := jitters[f.jitter]; !ok {
		return fmt.Errorf("--jitter must be proportional, none, full, equal or decorrelated, got %q", f.jitter)
	}
	var err error
	if r.retryCodes, err = parseCodes("--retry-on", f.retryOn); err != nil {
		return err
	}
	switch f.failOn {
	case "retried":
	case "any":
		r.failAny = true
	default:
		if r.failCodes, err = parseCodes("--fail-on", f.failOn); err != nil || r.failCodes == nil {
			return fmt.Errorf("--fail-on takes retried, any, or exit codes from 1 to 255, got %q", f.failOn)
		}
	}
	if f.retryOnOutput != "" {
		if r.pattern, err = regexp.Compile(f.retryOnOutput); err != nil {
			return fmt.Errorf("--retry-on-output: %v", err)
		}
	}
	if f.key == "" {
		f.key = strings.Join(r.command, " ")
	}
	r.rules = circuitRules{failures: f.failures, openFor: *f.openFor, lease: *f.openFor}
	// A probe cannot outlive its time limits: its lease need not either,
	// should this invocation die without giving it back.
	if bound := minPositive(*f.timeout, *f.maxTime); bound > 0 {
		r.rules.lease = min(r.rules.lease, bound+killGrace+time.Second)
	}
	return nil
}

func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// parseCodes parses a list of exit codes: nil means "any".
func parseCodes(flag, s string) (map[int]bool, error) {
	if s == "any" {
		return nil, nil
	}
	codes := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 || n > 255 {
			return nil, fmt.Errorf("%s takes exit codes from 1 to 255 or \"any\", got %q", flag, part)
		}
		codes[n] = true
	}
	return codes, nil
}

// say prints a progress line, unless --quiet.
func (r *runner) say(format string, args ...any) {
	if !r.f.quiet {
		r.tell(format, args...)
	}
}

// tell prints a line that explains what breakwater did, even with --quiet.
func (r *runner) tell(format string, args ...any) {
	fmt.Fprintf(r.stderr, "breakwater: "+format+"\n", args...)
}

// exitError is a failed attempt: the command's exit status.
type exitError struct {
	code     int
	timedOut bool // stopped by --timeout or --max-time
	matched  bool // a line of its output matched --retry-on-output
}

func (e *exitError) Error() string {
	if e.timedOut {
		return "timed out"
	}
	return "exit status " + strconv.Itoa(e.code)
}

var (
	errCannotRun     = errors.New("cannot run the command")
	errNotFound      = fmt.Errorf("%w: not found", errCannotRun)
	errStateUnusable = errors.New("the state cannot be used")
)

func (r *runner) run(sig context.Context) int {
	ctx := sig
	if *r.f.maxTime > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(sig, *r.f.maxTime)
		defer cancel()
	}
	policy, err := retry.New(retry.Config{
		Name:        r.f.key,
		MaxAttempts: r.f.attempts,
		MaxElapsed:  *r.f.maxTime,
		Delay:       max(*r.f.delay, time.Nanosecond),
		MaxDelay:    max(*r.f.maxDelay, time.Nanosecond),
		Multiplier:  r.f.multiplier,
		Jitter:      jitters[r.f.jitter],
		NoBudget:    true, // one invocation; the circuit protects across invocations
		Hooks: retry.Hooks{OnRetry: func(_ context.Context, e retry.RetryEvent) {
			r.say("attempt %d/%d failed (%v); retrying in %v", e.Attempt, r.f.attempts, e.Err, e.Delay.Round(time.Millisecond))
		}},
	})
	if err != nil {
		r.tell("%v", err)
		return exitUsage
	}
	if r.stdin, err = newStdinSource(os.Stdin); err != nil {
		r.tell("cannot read standard input: %v", err)
		return 1
	}
	defer r.stdin.Close()

	err = policy.Do(ctx, func(ctx context.Context) error { return r.attempt(sig, ctx) })
	var re *retry.Error
	switch {
	case err == nil:
		if r.ran > 1 {
			r.say("succeeded on attempt %d/%d", r.ran, r.f.attempts)
		}
		return 0
	case sig.Err() != nil:
		r.tell("interrupted")
		return exitInterrupted
	case errors.Is(err, breaker.ErrOpen) && r.ran == 0:
		var oe *breaker.OpenError
		if errors.As(err, &oe) && oe.State == breaker.Open {
			r.tell("circuit %q is open until %s; not running the command (exit %d)", r.f.key, oe.Until.Format(time.RFC3339), r.f.openExit)
		} else {
			r.tell("circuit %q is half-open and another invocation is probing; not running the command (exit %d)", r.f.key, r.f.openExit)
		}
		return r.f.openExit
	case errors.Is(err, errStateUnusable):
		r.tell("%v; not running the command (--strict-state)", err)
		return exitStateUnusable
	case errors.Is(err, errNotFound):
		r.tell("%v", err)
		return exitNotFound
	case errors.Is(err, errCannotRun):
		r.tell("%v", err)
		return exitCannotRun
	case r.last == nil:
		r.tell("%v", err)
		return 1
	case r.opened || errors.Is(err, breaker.ErrOpen):
		r.tell("circuit %q is open; not retrying: the last attempt failed (%v)", r.f.key, r.last)
	case errors.As(err, &re):
		r.tell("giving up after %d attempt(s): %v (%v)", re.Attempts, r.last, re.Cause)
	default: // not retried: the command's own verdict
		r.say("not retrying: %s", r.notRetried(r.last))
		return r.last.code
	}
	if code, ok := r.f.exhaustedExit.get(); ok {
		return code
	}
	return r.last.code
}

// attempt runs the command once, if the circuit lets it, and records the
// outcome in the circuit. sig ends with an interrupt, ctx also with
// --max-time.
func (r *runner) attempt(sig, ctx context.Context) error {
	gen, err := r.admit()
	if err != nil {
		return err
	}
	r.ran++
	err = r.exec(sig, ctx)
	if errors.Is(err, errCannotRun) || sig.Err() != nil {
		r.release(gen, errors.Is(err, errCannotRun)) // not the dependency's outcome: leave the circuit alone
		return outcome.Permanent(err)
	}
	var ee *exitError
	if errors.As(err, &ee) {
		r.last = ee
	}
	retryable := err != nil && r.retryable(ee)
	failed := err != nil && (r.failAny || ee.timedOut || r.failCodes == nil && retryable || r.failCodes[ee.code])
	r.record(gen, failed)
	if err != nil && (!retryable || r.opened) {
		return outcome.Permanent(err)
	}
	return err
}

// notRetried says why a failed attempt was not retried.
func (r *runner) notRetried(ee *exitError) string {
	if r.pattern != nil && !ee.matched {
		return fmt.Sprintf("the attempt failed (exit %d) and no line of its output matches --retry-on-output %q", ee.code, r.f.retryOnOutput)
	}
	return fmt.Sprintf("the attempt's exit status %d is not in --retry-on %s", ee.code, r.f.retryOn)
}

// retryable reports whether a failed attempt is retried.
func (r *runner) retryable(ee *exitError) bool {
	switch {
	case ee.timedOut:
		return true
	case r.pattern != nil && !ee.matched:
		return false
	}
	return r.retryCodes == nil || r.retryCodes[ee.code]
}

// admit asks the circuit for an attempt. When the state cannot be
// updated, --strict-state refuses to run; otherwise a circuit that the
// state, read as it is, says is open still turns the attempt away,
// and any other runs without a circuit.
func (r *runner) admit() (gen int, err error) {
	if r.noState {
		return 0, nil
	}
	uerr := r.store.update(r.f.key, func(c *circuit, now time.Time) (*circuit, error) {
		if c == nil {
			c = &circuit{}
		}
		gen, err = c.admit(r.f.key, now, r.rules)
		return c, nil
	})
	if uerr == nil {
		return gen, err
	}
	if r.f.strictState {
		return 0, outcome.Permanent(fmt.Errorf("%w (%v)", errStateUnusable, uerr))
	}
	if cs, now, lerr := r.store.load(); lerr == nil {
		if c := cs[r.f.key]; c != nil && c.State == breaker.Open && now.Before(c.OpenUntil) {
			r.tell("the state cannot be updated (%v), but says the circuit is open", uerr)
			return 0, &breaker.OpenError{Name: r.f.key, State: breaker.Open, Until: c.OpenUntil}
		}
	}
	r.tell("the state cannot be used (%v); running without a circuit breaker", uerr)
	r.noState = true
	return 0, nil
}

func (r *runner) record(gen int, failed bool) {
	var before, after breaker.State
	recorded := r.updateCircuit(func(c *circuit, now time.Time) {
		before = c.State
		c.record(r.f.key, gen, failed, now, r.rules)
		after = c.State
	})
	if recorded && after != before {
		r.say("circuit %q: %v -> %v", r.f.key, before, after)
		r.opened = r.opened || after == breaker.Open
	}
}

// release gives back the probe lease of an attempt whose outcome is not
// recorded. A command that could not be started (not found, not
// executable) says nothing of what it calls: a circuit that has never
// counted anything else is forgotten, not left keyed by a mistyped path.
func (r *runner) release(gen int, unstarted bool) {
	if r.noState {
		return
	}
	err := r.store.update(r.f.key, func(c *circuit, _ time.Time) (*circuit, error) {
		if c == nil {
			return nil, nil
		}
		c.release(gen)
		if unstarted && c.Attempts == 0 && c.Rejections == 0 && c.State == breaker.Closed {
			return nil, nil
		}
		return c, nil
	})
	if err != nil {
		r.tell("cannot record the outcome in the state: %v", err)
	}
}

// updateCircuit runs f on the circuit, a new one if it has none, and
// reports whether the store kept what f left.
func (r *runner) updateCircuit(f func(c *circuit, now time.Time)) bool {
	if r.noState {
		return false
	}
	err := r.store.update(r.f.key, func(c *circuit, now time.Time) (*circuit, error) {
		if c == nil { // the circuit was reset meanwhile
			c = &circuit{}
		}
		f(c, now)
		return c, nil
	})
	if err != nil {
		r.tell("cannot record the outcome in the state: %v", err)
	}
	return err == nil
}

// exec runs the command once, passing its output through, and returns
// nil, an *exitError, or an error matching errCannotRun. sig ends with
// an interrupt; ctx also with --max-time, and the attempt with --timeout.
func (r *runner) exec(sig, ctx context.Context) error {
	if *r.f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *r.f.timeout)
		defer cancel()
	}
	stdin, closer, err := r.stdin.open()
	if err != nil {
		return fmt.Errorf("%w: standard input: %v", errCannotRun, err)
	}
	defer closer.Close()
	cmd := exec.CommandContext(ctx, r.command[0], r.command[1:]...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	var match *lineMatcher
	if r.pattern != nil {
		match = &lineMatcher{re: r.pattern}
		cmd.Stdout, cmd.Stderr = io.MultiWriter(r.stdout, match), io.MultiWriter(r.stderr, match)
	}
	finish := stopTogether(cmd, r.stdin.terminal, killGrace)
	cmd.WaitDelay = killGrace
	err = cmd.Run()
	finish()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && sig.Err() == nil:
		return &exitError{code: exitTimedOut, timedOut: true}
	case errors.As(err, &ee):
		code := ee.ExitCode()
		if code < 0 { // killed by a signal
			code = 128 + signalNumber(ee)
		}
		return &exitError{code: code, matched: match != nil && match.matched()}
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %v", errNotFound, err)
	}
	return fmt.Errorf("%w: %v", errCannotRun, err)
}

// breakerDefaults returns the breaker's defaults, which the CLI's flags
// share.
func breakerDefaults() breaker.Config {
	b, err := breaker.New(breaker.Config{})
	if err != nil {
		panic(err) // the zero Config is valid
	}
	return b.Config()
}
