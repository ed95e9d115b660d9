package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeState writes a state file of one circuit for key, open until
// openUntil (in the past: the next invocation probes).
func writeState(t *testing.T, dir, key string, openUntil time.Time) {
	t.Helper()
	st := stateFile{Version: stateVersion, Circuits: map[string]*circuit{key: {State: 1, Generation: 1, Trips: 1, OpenUntil: openUntil}}}
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestExitStatusesStayDistinguishable(t *testing.T) {
	needShell(t)
	tests := []struct {
		name  string
		args  []string
		want  int
		again int // the exit status of a second invocation
	}{
		// The defaults: 4 attempts, 3 failures open the circuit. The first
		// invocation shows the command's own failure, not the circuit's 75.
		{"command's status first, then the circuit's", []string{"--delay", "1ms", "--", "sh", "-c", "exit 9"}, 9, exitOpen},
		{"--exhausted-exit when the circuit stops the retries", []string{"--delay", "1ms", "--exhausted-exit", "42", "--", "sh", "-c", "exit 9"}, 42, exitOpen},
		{"--open-exit chooses the circuit's status", []string{"--delay", "1ms", "--open-exit", "200", "--", "sh", "-c", "exit 9"}, 9, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"run", "--key", "k"}, tt.args...)
			if r := invoke(t, dir, args...); r.code != tt.want {
				t.Fatalf("first: exit %d, want %d; stderr:\n%s", r.code, tt.want, r.stderr)
			}
			r := invoke(t, dir, args...)
			if r.code != tt.again || !strings.Contains(r.stderr, "not running the command (exit") {
				t.Fatalf("second: exit %d, want %d; stderr:\n%s", r.code, tt.again, r.stderr)
			}
		})
	}
}

func TestFailOnDecidesWhatCountsAgainstTheCircuit(t *testing.T) {
	needShell(t)
	failures := func(dir string) int {
		var st stateFile
		data, _ := os.ReadFile(filepath.Join(dir, "state.json"))
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatal(err)
		}
		return st.Circuits["k"].ConsecutiveFailures
	}
	tests := []struct {
		name   string
		flags  []string
		script string
		want   int
	}{
		{"a status not retried is the command's verdict", []string{"--retry-on", "75"}, "exit 1", 0},
		{"a retried status counts", []string{"--retry-on", "75", "--attempts", "2"}, "exit 75", 2},
		{"any counts every failure", []string{"--retry-on", "75", "--fail-on", "any"}, "exit 1", 1},
		{"listed codes count", []string{"--retry-on", "75", "--fail-on", "1,2"}, "exit 1", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append(append([]string{"run", "--key", "k", "--delay", "1ms", "--failures", "10"}, tt.flags...), "--", "sh", "-c", tt.script)
			invoke(t, dir, args...)
			if got := failures(dir); got != tt.want {
				t.Fatalf("%d failures counted, want %d", got, tt.want)
			}
		})
	}
}

// status only reads: a null entry is no panic, a corrupt file is reported
// and left where it is, a newer file is never thrown away.
func TestStateFileRobustness(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	write := func(s string) {
		if err := os.WriteFile(state, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"version":1,"circuits":{"ghost":null,"real":{"state":"closed","consecutive_failures":1}}}`)
	if r := invoke(t, dir, "status"); r.code != 0 || !strings.Contains(r.stdout, "real") || strings.Contains(r.stdout, "ghost") {
		t.Fatalf("status with a null entry: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := invoke(t, dir, "run", "--key", "ghost", "--", "true"); r.code != 0 {
		t.Fatalf("run on a null entry: exit %d\n%s", r.code, r.stderr)
	}

	write("{not json")
	if r := invoke(t, dir, "status"); r.code != 1 || !strings.Contains(r.stderr, "corrupt") {
		t.Fatalf("status of a corrupt file: exit %d\n%s", r.code, r.stderr)
	}
	if data, _ := os.ReadFile(state); string(data) != "{not json" {
		t.Fatal("status changed a corrupt state file")
	}
	for range 2 { // two corruptions leave one file aside
		write("{not json")
		invoke(t, dir, "run", "--key", "k", "--", "true")
	}
	if aside, _ := filepath.Glob(state + ".corrupt*"); len(aside) != 1 {
		t.Fatalf("files set aside: %v", aside)
	}

	newer := `{"version":99,"circuits":{}}`
	write(newer)
	r := invoke(t, dir, "run", "--key", "k", "--", "true")
	if r.code != 0 || !strings.Contains(r.stderr, "newer version") {
		t.Fatalf("run on a newer file: exit %d\n%s", r.code, r.stderr)
	}
	if data, _ := os.ReadFile(state); string(data) != newer {
		t.Fatalf("a newer state file was changed: %s", data)
	}
	if r := invoke(t, dir, "run", "--strict-state", "--key", "k", "--", "true"); r.code != exitStateUnusable {
		t.Fatalf("--strict-state on a newer file: exit %d\n%s", r.code, r.stderr)
	}
	if r := invoke(t, dir, "status"); r.code != 1 || !strings.Contains(r.stderr, "newer version") {
		t.Fatalf("status of a newer file: exit %d\n%s", r.code, r.stderr)
	}
}

// When the state cannot be updated (here its lock file cannot be opened),
// an open circuit it still shows turns the command away; --strict-state
// refuses to run at all.
func TestUnwritableStateStillHonoursAnOpenCircuit(t *testing.T) {
	dir := t.TempDir()
	writeState(t, dir, "k", time.Now().Add(time.Hour))
	if err := os.Mkdir(filepath.Join(dir, "state.json.lock"), 0o755); err != nil {
		t.Fatal(err)
	}
	if r := invoke(t, dir, "run", "--key", "k", "--", "true"); r.code != exitOpen || !strings.Contains(r.stderr, "says the circuit is open") {
		t.Fatalf("open circuit, unwritable state: exit %d\n%s", r.code, r.stderr)
	}
	if r := invoke(t, dir, "run", "--key", "other", "--", "true"); r.code != 0 || !strings.Contains(r.stderr, "running without a circuit breaker") {
		t.Fatalf("other key, unwritable state: exit %d\n%s", r.code, r.stderr)
	}
	if r := invoke(t, dir, "run", "--strict-state", "--key", "other", "--", "true"); r.code != exitStateUnusable {
		t.Fatalf("--strict-state: exit %d\n%s", r.code, r.stderr)
	}
}

// An invocation interrupted during a half-open probe gives the probe back:
// the next one probes at once. While the probe runs, status shows its lease.
func TestInterruptedProbeReleasesTheCircuit(t *testing.T) {
	needShell(t)
	dir := t.TempDir()
	writeState(t, dir, "k", time.Now().Add(-time.Second))
	cmd := exec.Command(binary, "run", "--key", "k", "--", "sh", "-c", "touch started; exec sleep 30")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BREAKWATER_STATE="+filepath.Join(dir, "state.json"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the probe never started")
		}
	}
	if r := invoke(t, dir, "status"); !strings.Contains(r.stdout, "probing; lease ends in") {
		t.Fatalf("status during the probe:\n%s", r.stdout)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("interrupted: %v\n%s", err, stderr.String())
	}
	if r := invoke(t, dir, "run", "--key", "k", "--", "true"); r.code != 0 {
		t.Fatalf("the next invocation after an interrupted probe: exit %d\n%s", r.code, r.stderr)
	}
}

func TestStdinIsGivenToEveryAttempt(t *testing.T) {
	needShell(t)
	dir := t.TempDir()
	cmd := exec.Command(binary, "run", "--key", "k", "--attempts", "3", "--delay", "1ms", "--", "sh", "-c", "cat >> got; exit 1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BREAKWATER_STATE="+filepath.Join(dir, "state.json"))
	cmd.Stdin = strings.NewReader("hello\n") // a pipe
	cmd.Run()
	if got, _ := os.ReadFile(filepath.Join(dir, "got")); string(got) != "hello\nhello\nhello\n" {
		t.Fatalf("the attempts read %q", got)
	}
	// A regular file is rewound.
	in := filepath.Join(dir, "in")
	os.WriteFile(in, []byte("x\n"), 0o644)
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd = exec.Command(binary, "run", "--key", "k2", "--attempts", "2", "--delay", "1ms", "--", "sh", "-c", "cat >> got2; exit 1")
	cmd.Dir, cmd.Env, cmd.Stdin = dir, append(os.Environ(), "BREAKWATER_STATE="+filepath.Join(dir, "state.json")), f
	cmd.Run()
	if got, _ := os.ReadFile(filepath.Join(dir, "got2")); string(got) != "x\nx\n" {
		t.Fatalf("the attempts read %q from a file", got)
	}
}

func TestTimeLimitsStopTheRunningAttempt(t *testing.T) {
	needShell(t)
	tests := []struct {
		name  string
		flags []string
		runs  int
	}{
		{"--timeout per attempt, retried", []string{"--timeout", "200ms", "--attempts", "2"}, 2},
		{"--max-time stops the attempt that runs", []string{"--max-time", "300ms"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			start := time.Now()
			args := append(append([]string{"run", "--key", "k", "--delay", "1ms"}, tt.flags...), "--", "sh", "-c", "echo x >> runs; exec sleep 20")
			r := invoke(t, dir, args...)
			if r.code != exitTimedOut || time.Since(start) > 10*time.Second {
				t.Fatalf("exit %d after %v, want %d at once; stderr:\n%s", r.code, time.Since(start), exitTimedOut, r.stderr)
			}
			if runs, _ := os.ReadFile(filepath.Join(dir, "runs")); strings.Count(string(runs), "x") != tt.runs {
				t.Fatalf("%d runs, want %d", strings.Count(string(runs), "x"), tt.runs)
			}
		})
	}
}

func TestRetryOnOutput(t *testing.T) {
	needShell(t)
	tests := []struct {
		script string
		runs   int
	}{
		{"echo x >> runs; echo 'fetch: connection reset by peer' >&2; exit 1", 3},
		{"echo x >> runs; echo 'syntax error'; exit 1", 1},
		{"echo x >> runs; printf 'connection reset'; exit 1", 3}, // the last line, without a newline
	}
	for _, tt := range tests {
		dir := t.TempDir()
		invoke(t, dir, "run", "--key", "k", "--attempts", "3", "--delay", "1ms", "--failures", "10",
			"--retry-on-output", "connection (reset|refused)", "--", "sh", "-c", tt.script)
		if runs, _ := os.ReadFile(filepath.Join(dir, "runs")); strings.Count(string(runs), "x") != tt.runs {
			t.Errorf("%q: %d runs, want %d", tt.script, strings.Count(string(runs), "x"), tt.runs)
		}
	}
}

// A command that cannot be started (126, 127) leaves no circuit behind,
// keyed by a mistyped path.
func TestACommandThatCannotStartLeavesNoCircuit(t *testing.T) {
	dir := t.TempDir()
	notExecutable := filepath.Join(dir, "script")
	if err := os.WriteFile(notExecutable, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		cmd  string
		want int
	}{{filepath.Join(dir, "nosuch"), exitNotFound}, {notExecutable, exitCannotRun}} {
		if r := invoke(t, dir, "run", "--", tt.cmd); r.code != tt.want {
			t.Fatalf("%s: exit %d, want %d\n%s", tt.cmd, r.code, tt.want, r.stderr)
		}
	}
	if r := invoke(t, dir, "status"); !strings.Contains(r.stdout, "no circuits") {
		t.Fatalf("status after commands that could not start:\n%s", r.stdout)
	}
}

// A failure that is not retried says why, instead of ending silently.
func TestAFailureNotRetriedSaysWhy(t *testing.T) {
	needShell(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--retry-on", "75", "--", "sh", "-c", "exit 1"}, "not retrying: the attempt's exit status 1 is not in --retry-on 75"},
		{[]string{"--retry-on-output", "timeout", "--", "sh", "-c", "echo boom; exit 1"},
			`not retrying: the attempt failed (exit 1) and no line of its output matches --retry-on-output "timeout"`},
	}
	for _, tt := range tests {
		r := invoke(t, t.TempDir(), append([]string{"run", "--delay", "1ms"}, tt.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want 1 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

func TestQuietAndTheLineOnSuccess(t *testing.T) {
	needShell(t)
	script := `n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 2 ]`
	dir := t.TempDir()
	r := invoke(t, dir, "run", "--key", "k", "--delay", "1ms", "--", "sh", "-c", script)
	if r.code != 0 || !strings.Contains(r.stderr, "succeeded on attempt 2/4") {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	dir = t.TempDir()
	if r := invoke(t, dir, "run", "--quiet", "--key", "k", "--delay", "1ms", "--", "sh", "-c", script); r.code != 0 || r.stderr != "" {
		t.Fatalf("--quiet: exit %d; stderr:\n%s", r.code, r.stderr)
	}
}

func TestResetAndVersion(t *testing.T) {
	dir := t.TempDir()
	writeState(t, dir, "k", time.Now().Add(time.Hour))
	if r := invoke(t, dir, "run", "--key", "k", "--", "true"); r.code != exitOpen {
		t.Fatalf("before reset: exit %d", r.code)
	}
	if r := invoke(t, dir, "reset", "k"); r.code != 0 || !strings.Contains(r.stdout, "reset 1 circuit") {
		t.Fatalf("reset: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := invoke(t, dir, "run", "--key", "k", "--", "true"); r.code != 0 {
		t.Fatalf("after reset: exit %d\n%s", r.code, r.stderr)
	}
	if r := invoke(t, dir, "reset", "nope"); r.code != 1 || !strings.Contains(r.stderr, "no circuit") {
		t.Fatalf("reset of an unknown key: exit %d\n%s", r.code, r.stderr)
	}
	if r := invoke(t, dir, "reset"); r.code != exitUsage {
		t.Fatalf("reset with nothing to reset: exit %d", r.code)
	}
	if r := invoke(t, dir, "reset", "--all"); r.code != 0 {
		t.Fatalf("reset --all: exit %d", r.code)
	}
	for _, v := range []string{"version", "--version", "-v"} {
		if r := invoke(t, dir, v); r.code != 0 || !strings.HasPrefix(r.stdout, "breakwater ") || !strings.Contains(r.stdout, "go1") {
			t.Fatalf("%s: exit %d, %q", v, r.code, r.stdout)
		}
	}
}

// An open circuit whose open period has ended says its probe is due, not
// "probe in 0s".
func TestStatusSaysAProbeIsDue(t *testing.T) {
	dir := t.TempDir()
	writeState(t, dir, "k", time.Now().Add(-time.Minute))
	if r := invoke(t, dir, "status"); r.code != 0 || !strings.Contains(r.stdout, "probe due") || strings.Contains(r.stdout, "probe in") {
		t.Fatalf("status: exit %d\n%s", r.code, r.stdout)
	}
	writeState(t, dir, "k", time.Now().Add(time.Hour))
	if r := invoke(t, dir, "status"); !strings.Contains(r.stdout, "probe in 1h0m0s") {
		t.Fatalf("status of a circuit open for an hour:\n%s", r.stdout)
	}
}

// A parse error gives the error and a hint, not the whole usage; defaults
// are shown once.
func TestHelpIsToThePoint(t *testing.T) {
	dir := t.TempDir()
	r := invoke(t, dir, "run", "--delay", "5", "--", "true")
	if r.code != exitUsage || !strings.Contains(r.stderr, "give a number with a unit") ||
		!strings.Contains(r.stderr, `Run "breakwater run --help"`) || strings.Contains(r.stderr, "Flags:") {
		t.Fatalf("--delay 5: exit %d\n%s", r.code, r.stderr)
	}
	r = invoke(t, dir, "run", "--help")
	if !strings.Contains(r.stdout, "\n  --attempts int\n") || strings.Contains(r.stdout, "\n  -attempts") {
		t.Errorf("run --help does not write flags with two dashes, as the README does:\n%s", r.stdout)
	}
	for _, bad := range []string{"(default -1)", "command's last) (default", "(default 0s)", "value\n"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("run --help shows %q:\n%s", bad, r.stdout)
		}
	}
	if r := invoke(t, dir, "help", "nope"); r.code != exitUsage {
		t.Fatalf("help nope: exit %d", r.code)
	}
}

// An attempt stopped by its time limit takes the processes it started
// with it, as timeout(1) does: a shell's children are not left running.
func TestTimeLimitStopsTheWholeCommand(t *testing.T) {
	needShell(t)
	if runtime.GOOS == "windows" {
		t.Skip("process groups")
	}
	dir := t.TempDir()
	r := invoke(t, dir, "run", "--key", "k", "--attempts", "1", "--timeout", "300ms", "--",
		"sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $! > child; wait")
	if r.code != exitTimedOut {
		t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, exitTimedOut, r.stderr)
	}
	data, err := os.ReadFile(filepath.Join(dir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	child, _ := os.FindProcess(pid)
	t.Cleanup(func() { child.Kill() })
	// The child was asked to stop before breakwater exited; it may take a
	// moment to be gone.
	if !gone(child, 5*time.Second) {
		t.Fatalf("the command's child %d still runs after its attempt timed out", pid)
	}
}

// gone reports whether p has ended, or ends within d.
func gone(p *os.Process, d time.Duration) bool {
	for deadline := time.Now().Add(d); alive(p); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
