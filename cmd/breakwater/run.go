package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/retry"
)

// Exit statuses of `breakwater run` besides the command's own.
const (
	exitOpen        = 75  // the circuit is open: the command was not run (EX_TEMPFAIL)
	exitUsage       = 2   // bad flags
	exitCannotRun   = 126 // the command could not be started
	exitNotFound    = 127 // the command does not exist
	exitInterrupted = 130 // breakwater was interrupted
)

const runUsage = `Usage: breakwater run [flags] -- COMMAND [ARGS...]

Runs COMMAND, retrying it while it fails, behind a circuit breaker whose state
is kept in a file between invocations: once COMMAND has failed --failures
times in a row (across invocations), further invocations with the same --key
are turned away without running it until --open-for has passed; then one
invocation probes, and its success closes the circuit again.

COMMAND's output passes through. Progress goes to standard error.

Exit status: COMMAND's own (its last attempt's when the attempts or the time
ran out, unless --exhausted-exit is set); 75 when the circuit is open, so
COMMAND was not run (or, if the circuit opened between attempts, not run
again); 126 when COMMAND cannot be started; 127 when it is not found; 130
when interrupted; 2 for bad flags.

Flags:
`

type runFlags struct {
	key           string
	attempts      int
	delay         time.Duration
	maxDelay      time.Duration
	multiplier    float64
	jitter        string
	maxTime       time.Duration
	retryOn       string
	failures      int
	openFor       time.Duration
	statePath     string
	exhaustedExit int
}

var jitters = map[string]retry.Jitter{
	"proportional": retry.JitterProportional, "none": retry.JitterNone, "full": retry.JitterFull,
	"equal": retry.JitterEqual, "decorrelated": retry.JitterDecorrelated,
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, runUsage); fs.PrintDefaults() }
	fs.StringVar(&f.key, "key", "", "circuit `name`; invocations with the same key share a circuit (default: the command line)")
	fs.IntVar(&f.attempts, "attempts", retry.DefaultMaxAttempts, "attempts in all, the first included")
	fs.DurationVar(&f.delay, "delay", retry.DefaultDelay, "delay before the first retry")
	fs.DurationVar(&f.maxDelay, "max-delay", retry.DefaultMaxDelay, "longest delay between attempts")
	fs.Float64Var(&f.multiplier, "multiplier", retry.DefaultMultiplier, "growth of the delay at each retry (1: constant)")
	fs.StringVar(&f.jitter, "jitter", "proportional", "jitter: proportional (±20%), none, full, equal or decorrelated")
	fs.DurationVar(&f.maxTime, "max-time", 0, "give up when the next attempt would start after this long (0: no limit)")
	fs.StringVar(&f.retryOn, "retry-on", "any", "exit `codes` to retry, comma-separated, or any (every non-zero code)")
	fs.IntVar(&f.failures, "failures", breaker.DefaultConsecutiveFailures, "consecutive failed attempts that open the circuit")
	fs.DurationVar(&f.openFor, "open-for", breaker.DefaultOpenDuration, "how long an open circuit turns invocations away")
	fs.StringVar(&f.statePath, "state", defaultStatePath(), "state `file` (default from $BREAKWATER_STATE or $XDG_STATE_HOME)")
	fs.IntVar(&f.exhaustedExit, "exhausted-exit", -1, "exit `status` when the attempts or the time run out (default: the command's)")
	if err := fs.Parse(args); err != nil {
		return usageStatus(err)
	}
	command := fs.Args()
	if len(command) == 0 {
		fmt.Fprintln(stderr, "breakwater run: no command given (put it after --)")
		return exitUsage
	}
	codes, err := parseCodes(f.retryOn)
	if err == nil {
		err = f.check()
	}
	if err != nil {
		fmt.Fprintln(stderr, "breakwater run:", err)
		return exitUsage
	}
	if f.key == "" {
		f.key = strings.Join(command, " ")
	}

	ctx, stop := signalContext()
	defer stop()
	r := &runner{
		f: f, command: command, codes: codes, stdout: stdout, stderr: stderr,
		rules: circuitRules{failures: f.failures, openFor: f.openFor},
	}
	r.store = &store{path: f.statePath, warn: r.say}
	return r.run(ctx)
}

func (f *runFlags) check() error {
	switch {
	case f.attempts < 1:
		return fmt.Errorf("--attempts must be at least 1, got %d", f.attempts)
	case f.delay < 0:
		return fmt.Errorf("--delay must not be negative, got %v", f.delay)
	case f.maxDelay < f.delay:
		return fmt.Errorf("--max-delay (%v) must not be below --delay (%v)", f.maxDelay, f.delay)
	case !(f.multiplier >= 1 && f.multiplier <= 1000):
		return fmt.Errorf("--multiplier must be between 1 and 1000, got %v", f.multiplier)
	case f.maxTime < 0:
		return fmt.Errorf("--max-time must not be negative, got %v", f.maxTime)
	case f.failures < 1:
		return fmt.Errorf("--failures must be at least 1, got %d", f.failures)
	case f.openFor <= 0:
		return fmt.Errorf("--open-for must be positive, got %v", f.openFor)
	case f.statePath == "":
		return errors.New("--state must not be empty")
	case f.exhaustedExit < -1 || f.exhaustedExit > 255:
		return fmt.Errorf("--exhausted-exit must be between 0 and 255, got %d", f.exhaustedExit)
	}
	if _, ok := jitters[f.jitter]; !ok {
		return fmt.Errorf("--jitter must be proportional, none, full, equal or decorrelated, got %q", f.jitter)
	}
	return nil
}

// parseCodes parses --retry-on: nil means every non-zero code.
func parseCodes(s string) (map[int]bool, error) {
	if s == "any" {
		return nil, nil
	}
	codes := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 || n > 255 {
			return nil, fmt.Errorf("--retry-on takes exit codes from 1 to 255 or \"any\", got %q", part)
		}
		codes[n] = true
	}
	return codes, nil
}

type runner struct {
	f              runFlags
	command        []string
	codes          map[int]bool
	rules          circuitRules
	store          *store
	stdout, stderr io.Writer
	noState        bool // the state file is unusable: run without a circuit
	ran            int  // attempts that ran the command
}

func (r *runner) say(format string, args ...any) {
	fmt.Fprintf(r.stderr, "breakwater: "+format+"\n", args...)
}

// exitError is a failed attempt: the command's exit status.
type exitError struct{ code int }

func (e *exitError) Error() string { return "exit status " + strconv.Itoa(e.code) }

func (r *runner) run(ctx context.Context) int {
	policy, err := retry.New(retry.Config{
		Name:         r.f.key,
		MaxAttempts:  r.f.attempts,
		MaxElapsed:   r.f.maxTime,
		Delay:        max(r.f.delay, time.Nanosecond),
		MaxDelay:     max(r.f.maxDelay, time.Nanosecond),
		Multiplier:   r.f.multiplier,
		Jitter:       jitters[r.f.jitter],
		NoBudget:     true, // one invocation; the circuit protects across invocations
		DoNotRetryOn: []error{errCannotRun},
		Hooks: retry.Hooks{OnRetry: func(_ context.Context, e retry.RetryEvent) {
			r.say("attempt %d/%d failed (%v); retrying in %v", e.Attempt, r.f.attempts, e.Err, e.Delay.Round(time.Millisecond))
		}},
	})
	if err != nil {
		r.say("%v", err)
		return exitUsage
	}
	err = policy.Do(ctx, r.attempt)
	var ee *exitError
	var re *retry.Error
	switch {
	case err == nil:
		return 0
	case errors.Is(err, breaker.ErrOpen):
		what := "not running the command"
		if r.ran > 0 {
			what += " again"
		}
		var oe *breaker.OpenError
		if errors.As(err, &oe) && !oe.Until.IsZero() {
			r.say("circuit %q is open until %s; %s", r.f.key, oe.Until.Format(time.RFC3339), what)
		} else {
			r.say("circuit %q is half-open and another invocation is probing; %s", r.f.key, what)
		}
		return exitOpen
	case ctx.Err() != nil:
		r.say("interrupted")
		return exitInterrupted
	case errors.Is(err, errNotFound):
		r.say("%v", err)
		return exitNotFound
	case errors.Is(err, errCannotRun):
		r.say("%v", err)
		return exitCannotRun
	case errors.As(err, &re) && errors.As(err, &ee):
		r.say("giving up after %d attempt(s): %v (%v)", re.Attempts, ee, re.Cause)
		if r.f.exhaustedExit >= 0 {
			return r.f.exhaustedExit
		}
		return ee.code
	case errors.As(err, &ee):
		return ee.code // not a retryable code
	}
	r.say("%v", err)
	return 1
}

var (
	errCannotRun = errors.New("cannot run the command")
	errNotFound  = fmt.Errorf("%w: not found", errCannotRun)
)

// attempt runs the command once, if the circuit lets it, and records the
// outcome in the circuit.
func (r *runner) attempt(ctx context.Context) error {
	gen, err := r.admit()
	if err != nil {
		return err
	}
	r.ran++
	err = r.exec(ctx)
	if errors.Is(err, errCannotRun) || ctx.Err() != nil {
		return err // not the dependency's failure: leave the circuit alone
	}
	r.record(gen, err != nil)
	var ee *exitError
	if errors.As(err, &ee) && r.codes != nil && !r.codes[ee.code] {
		return retry.Permanent(err)
	}
	return err
}

func (r *runner) admit() (gen int, err error) {
	if r.noState {
		return 0, nil
	}
	uerr := r.store.update(func(st *stateFile) error {
		c := st.Circuits[r.f.key]
		if c == nil {
			c = &circuit{}
			st.Circuits[r.f.key] = c
		}
		gen, err = c.admit(r.f.key, time.Now(), r.rules)
		return nil
	})
	if uerr != nil {
		r.say("state file unusable (%v); running without a circuit breaker", uerr)
		r.noState = true
		return 0, nil
	}
	return gen, err
}

func (r *runner) record(gen int, failed bool) {
	if r.noState {
		return
	}
	err := r.store.update(func(st *stateFile) error {
		c := st.Circuits[r.f.key]
		if c == nil { // the state was reset meanwhile
			c = &circuit{}
			st.Circuits[r.f.key] = c
		}
		before := c.State
		c.record(gen, failed, time.Now(), r.rules)
		if c.State != before {
			r.say("circuit %q: %v -> %v", r.f.key, before, c.State)
		}
		return nil
	})
	if err != nil {
		r.say("cannot record the outcome in the state file: %v", err)
	}
}

// exec runs the command once, passing its output through.
func (r *runner) exec(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, r.command[0], r.command[1:]...)
	cmd.Stdin = os.Stdin
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		code := ee.ExitCode()
		if code < 0 { // killed by a signal
			code = 128 + signalNumber(ee)
		}
		return &exitError{code}
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %v", errNotFound, err)
	}
	return fmt.Errorf("%w: %v", errCannotRun, err)
}
