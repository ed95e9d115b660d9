package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/internal/leakcheck"
)

// binary is the breakwater command, built once for the tests that run it
// for real.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "breakwater-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "breakwater")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if leaked := leakcheck.Leaked(5 * time.Second); code == 0 && leaked != "" {
		fmt.Fprintf(os.Stderr, "goroutines still running after the tests:\n\n%s\n", leaked)
		code = 1
	}
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// invoke runs the built command in dir with the state file state.json
// there.
func invoke(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return invokeWith(t, dir, []string{"BREAKWATER_STATE=" + filepath.Join(dir, "state.json")}, args...)
}

// invokeWith runs the built command in dir with env added to the
// environment.
func invokeWith(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running breakwater: %v", err)
	}
	return result{code, stdout.String(), stderr.String()}
}

func needShell(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh on this system")
	}
}

func TestRunRetriesUntilSuccess(t *testing.T) {
	needShell(t)
	dir := t.TempDir()
	// Fails twice, then succeeds, counting its runs in a file.
	script := `n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "run $n"; [ $n -ge 3 ]`
	r := invoke(t, dir, "run", "--delay", "1ms", "--key", "flaky", "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if r.stdout != "run 1\nrun 2\nrun 3\n" {
		t.Fatalf("stdout %q: the command's output must pass through", r.stdout)
	}
	for _, want := range []string{"attempt 1/4 failed (exit status 1); retrying in", "attempt 2/4 failed"} {
		if !strings.Contains(r.stderr, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestRunOpensTheCircuitAcrossInvocations(t *testing.T) {
	needShell(t)
	dir := t.TempDir()
	failing := []string{"run", "--delay", "1ms", "--attempts", "2", "--failures", "2", "--open-for", "1h", "--key", "deploy", "--", "sh", "-c", "echo x >> runs; exit 3"}

	r := invoke(t, dir, failing...)
	if r.code != 3 {
		t.Fatalf("first invocation: exit %d, want the command's 3; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `circuit "deploy": closed -> open`) || !strings.Contains(r.stderr, `circuit "deploy" is open; not retrying: the last attempt failed (exit status 3)`) {
		t.Fatalf("stderr:\n%s", r.stderr)
	}

	r = invoke(t, dir, failing...)
	if r.code != exitOpen || !strings.Contains(r.stderr, `circuit "deploy" is open until`) {
		t.Fatalf("second invocation: exit %d, want %d; stderr:\n%s", r.code, exitOpen, r.stderr)
	}
	if runs, _ := os.ReadFile(filepath.Join(dir, "runs")); strings.Count(string(runs), "x") != 2 {
		t.Fatalf("the command ran %d times, want 2: an open circuit must not run it", strings.Count(string(runs), "x"))
	}

	// Other keys are not affected; status shows both.
	if r := invoke(t, dir, "run", "--key", "lint", "--", "true"); r.code != 0 {
		t.Fatalf("other key: exit %d: %s", r.code, r.stderr)
	}
	r = invoke(t, dir, "status")
	if r.code != 0 || !strings.Contains(r.stdout, "deploy") || !strings.Contains(r.stdout, "open") || !strings.Contains(r.stdout, "lint") {
		t.Fatalf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = invoke(t, dir, "status", "--json")
	var v statusView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || len(v.Circuits) != 2 || v.Circuits[0].Key != "deploy" ||
		v.Circuits[0].Trips != 1 || v.Circuits[0].OpenUntil.IsZero() || strings.Contains(r.stdout, "generation") {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
}

func TestRunExitStatuses(t *testing.T) {
	needShell(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"success", []string{"--", "true"}, 0},
		{"not retryable code passes through", []string{"--retry-on", "75", "--key", "a", "--", "sh", "-c", "exit 4"}, 4},
		{"exhausted, own status", []string{"--attempts", "2", "--delay", "1ms", "--key", "b", "--", "sh", "-c", "exit 5"}, 5},
		{"exhausted, chosen status", []string{"--attempts", "2", "--delay", "1ms", "--exhausted-exit", "99", "--key", "c", "--", "sh", "-c", "exit 5"}, 99},
		{"command not found", []string{"--key", "d", "--", "no-such-command-anywhere"}, exitNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := invoke(t, dir, append([]string{"run"}, tt.args...)...); r.code != tt.want {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.want, r.stderr)
			}
		})
	}
}

func TestRunBadFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "no command given"},
		{[]string{"run", "--attempts", "0", "--", "true"}, "--attempts must be at least 1"},
		{[]string{"run", "--retry-on", "0,x", "--", "true"}, "--retry-on takes exit codes"},
		{[]string{"run", "--jitter", "wobbly", "--", "true"}, "--jitter must be"},
		{[]string{"run", "--delay", "5s", "--max-delay", "1s", "--", "true"}, "--max-delay (1s) must not be below --delay (5s)"},
		{[]string{"run", "--open-for", "0s", "--", "true"}, "--open-for must be positive"},
		{[]string{"run", "--failures", "-1", "--", "true"}, "--failures must be between 1 and"},
		{[]string{"run", "--no-such-flag", "--", "true"}, "flag provided but not defined: --no-such-flag"},
		{[]string{"run", "--attempts", "abc", "--", "true"}, `invalid value "abc" for flag --attempts: "abc" is not a whole number`},
		{[]string{"run", "--open-exit", "0", "--", "true"}, "must not look like success"},
		{[]string{"status", "extra"}, "unexpected argument"},
		{[]string{"demo", "--speed", "0"}, "--speed must be between 1 and 1000"},
		{[]string{"frobnicate"}, "unknown command"},
	}
	for _, tt := range tests {
		r := invoke(t, dir, tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("breakwater %q: exit %d, stderr %q; want %d and %q", tt.args, r.code, r.stderr, exitUsage, tt.want)
		}
	}
	for _, cmd := range []string{"run", "status", "reset", "demo", "version"} {
		if r := invoke(t, dir, cmd, "--help"); r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: breakwater "+cmd) || r.stderr != "" {
			t.Errorf("%s --help: exit %d, stdout %q, stderr %q; want the usage on stdout", cmd, r.code, r.stdout, r.stderr)
		}
		if r := invoke(t, dir, "help", cmd); r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: breakwater "+cmd) {
			t.Errorf("help %s: exit %d, stdout %q", cmd, r.code, r.stdout)
		}
	}
}

func TestCorruptStateFileIsReportedAndRecovered(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	if err := os.WriteFile(state, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := invoke(t, dir, "run", "--key", "k", "--", "true")
	if r.code != 0 || !strings.Contains(r.stderr, "was corrupt") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if kept, _ := os.ReadFile(state + ".corrupt"); string(kept) != "{not json" {
		t.Fatalf("kept %q", kept)
	}
	var st stateFile
	data, _ := os.ReadFile(state)
	if err := json.Unmarshal(data, &st); err != nil || st.Circuits["k"] == nil {
		t.Fatalf("fresh state: %v\n%s", err, data)
	}
}

func TestConcurrentInvocationsKeepTheStateFileWhole(t *testing.T) {
	needShell(t)
	dir := t.TempDir()
	const n = 24
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("job-%d", i%4)
			script := "exit 0"
			if i%2 == 1 {
				script = "exit 1"
			}
			codes[i] = invoke(t, dir, "run", "--attempts", "2", "--delay", "1ms", "--failures", "100", "--key", key, "--", "sh", "-c", script).code
		}()
	}
	wg.Wait()
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("state file corrupted by concurrent invocations: %v\n%s", err, data)
	}
	if len(st.Circuits) != 4 {
		t.Fatalf("%d circuits, want 4:\n%s", len(st.Circuits), data)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "state.json.*")); len(leftovers) != 1 { // only the lock file
		t.Fatalf("left behind: %v", leftovers)
	}
	for i, c := range codes {
		if want := i % 2; c != want {
			t.Fatalf("invocation %d: exit %d, want %d", i, c, want)
		}
	}
	// Each failing key saw 6 invocations × 2 attempts; every update was kept.
	// Keys job-1 and job-3 fail; with 100 allowed they stay closed but count.
	for _, key := range []string{"job-1", "job-3"} {
		if c := st.Circuits[key]; c.ConsecutiveFailures != 12 {
			t.Fatalf("%s: %d consecutive failures recorded, want 12 (lost updates?)", key, c.ConsecutiveFailures)
		}
	}
}

func TestDemoWalksEveryState(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"demo", "--speed", "50"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	// The order of events is fixed; their exact times depend on the machine.
	wants := []string{
		"time runs 50× faster than the wall clock", "a timed-out attempt counts as neither success nor failure",
		"server: 502 Bad Gateway", "attempt 1 failed: 502 Bad Gateway; retrying in 1s",
		"server: (hangs)", "attempt 2 failed: timeout: call took longer than 2s; retrying in 2s",
		"server: 502 Bad Gateway", "circuit closed -> open", "call 1 failed",
		"call 2 rejected at once", "circuit open -> half-open",
		"server: 200 OK", "circuit half-open -> closed", "call 3 succeeded: charged", "1 ignored (timed out)",
	}
	rest := out.String()
	for _, want := range wants {
		i := strings.Index(rest, want)
		if i < 0 {
			t.Fatalf("demo output lacks %q after the previous events:\n%s", want, out.String())
		}
		rest = rest[i+len(want):]
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "run") {
		t.Fatalf("help: %d %q", code, out.String())
	}
}
