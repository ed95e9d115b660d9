package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/dashboard"
)

// startDashboard runs "breakwater dashboard" on the state file of dir, on
// a free port of 127.0.0.1, and returns its address and stop, which
// interrupts it, fails the test unless it ends at once with status 0, and
// returns what it wrote on standard error. The test's cleanup stops it if
// the test did not.
func startDashboard(t *testing.T, dir string, flags ...string) (base string, stop func() string) {
	t.Helper()
	return startDashboardWith(t, []string{"BREAKWATER_STATE=" + filepath.Join(dir, "state.json")}, flags...)
}

// startDashboardWith starts the dashboard as startDashboard does, with env
// added to its environment.
func startDashboardWith(t *testing.T, env []string, flags ...string) (base string, stop func() string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"dashboard", "--listen", "127.0.0.1:0"}, flags...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer // read once the command has ended
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = sync.OnceValue(func() string {
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("dashboard after an interrupt: %v\n%s", err, &stderr)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("dashboard still running 10 s after an interrupt")
		}
		return stderr.String()
	})
	t.Cleanup(func() { stop() })
	if err != nil {
		stop()
		t.Fatalf("dashboard printed no address: %v", err)
	}
	_, base, ok := strings.Cut(strings.TrimSpace(line), " at ")
	if !ok {
		t.Fatalf("dashboard printed %q", line)
	}
	return base, stop
}

func snapshotOf(t *testing.T, base string) dashboard.Snapshot {
	t.Helper()
	resp, err := http.Get(base + "snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s dashboard.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// circuitsOf returns the circuits of a snapshot of the dashboard at base,
// by name.
func circuitsOf(t *testing.T, base string) map[string]dashboard.Circuit {
	t.Helper()
	s := snapshotOf(t, base)
	if s.Error != "" {
		t.Fatalf("snapshot error: %s", s.Error)
	}
	circuits := map[string]dashboard.Circuit{}
	for _, c := range s.Circuits {
		circuits[c.Name] = c
	}
	return circuits
}

func act(t *testing.T, base, action, key string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"actions", strings.NewReader(url.Values{"action": {action}, "name": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Breakwater-Action", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The dashboard shows the circuits of "breakwater run" as invocations
// change the state file; its Reset and Trip change the file as an
// invocation would; an interrupt stops it with a stream still open.
func TestDashboardServesTheStateFile(t *testing.T) {
	needShell(t)
	if runtime.GOOS == "windows" {
		t.Skip("interrupts a process")
	}
	dir := t.TempDir()
	fail := []string{"run", "--key", "deploy", "--attempts", "2", "--failures", "2", "--delay", "1ms", "--", "sh", "-c", "exit 3"}
	invoke(t, dir, fail...)         // two failures open it
	invoke(t, dir, fail...)         // turned away
	ro, _ := startDashboard(t, dir) // read-only
	base, stop := startDashboard(t, dir, "--actions", "--open-for", "1h")

	c := circuitsOf(t, ro)["deploy"]
	if c.State != "open" || c.FailureRate != 1 || c.Calls != 2 || c.Rejections != 1 || c.Trips != 1 ||
		c.ProbeInSeconds <= 0 || c.ProbeInSeconds > 30 || c.Actions != nil {
		t.Fatalf("read-only dashboard: %+v", c)
	}
	if code := act(t, ro, "reset", "deploy"); code != http.StatusNotFound {
		t.Errorf("read-only dashboard: reset answered %d", code)
	}

	// A stream stays open across the actions and the interrupt.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"events", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		defer resp.Body.Close()
	}

	if c := circuitsOf(t, base)["deploy"]; len(c.Actions) != 2 {
		t.Errorf("actions offered: %v, want trip and reset", c.Actions)
	}
	if code := act(t, base, "force-open", "deploy"); code != http.StatusNotFound {
		t.Errorf("force-open answered %d, want 404", code)
	}
	if code := act(t, base, "reset", "deploy"); code != http.StatusNoContent {
		t.Fatalf("reset answered %d\n%s", code, stop())
	}
	if r := invoke(t, dir, "run", "--key", "deploy", "--", "true"); r.code != 0 {
		t.Fatalf("after the reset: exit %d\n%s", r.code, r.stderr)
	}
	// An action makes the next snapshot a fresh one: it sees the run.
	if c := circuitsOf(t, base)["deploy"]; c.State != "closed" || c.Calls != 3 || c.Trips != 1 || c.FailureRate != 0 {
		t.Errorf("after the reset and a success: %+v", c)
	}

	if code := act(t, base, "trip", "deploy"); code != http.StatusNoContent {
		t.Fatalf("trip answered %d", code)
	}
	circuits, _, err := (&fileStore{path: filepath.Join(dir, "state.json")}).load()
	if err != nil {
		t.Fatal(err)
	}
	if c := circuits["deploy"]; c.State != breaker.Open || c.Trips != 2 || time.Until(c.OpenUntil) < 59*time.Minute {
		t.Errorf("after the trip: %+v", c)
	}
	if r := invoke(t, dir, "run", "--key", "deploy", "--", "true"); r.code != exitOpen {
		t.Errorf("a tripped circuit let an invocation through: exit %d", r.code)
	}
	if log := stop(); strings.Count(log, "dashboard action") != 2 || !strings.Contains(log, "remote=127.0.0.1:") {
		t.Errorf("actions log:\n%s", log)
	}
}

// A corrupt state file is shown on the page, and left for "run" to set
// aside: the dashboard only reads.
func TestDashboardShowsACorruptStateFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("interrupts a process")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	base, _ := startDashboard(t, dir)
	if s := snapshotOf(t, base); !strings.Contains(s.Error, "corrupt") || len(s.Circuits) != 0 {
		t.Errorf("snapshot of a corrupt file: %+v", s)
	}
	if data, _ := os.ReadFile(path); string(data) != "{not json" {
		t.Errorf("the dashboard changed the file: %q", data)
	}
}

func TestDashboardBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"dashboard", "--open-for", "0s"},
		{"dashboard", "extra"},
		{"dashboard", "--listen", "127.0.0.1:not-a-port"},
	} {
		if r := invoke(t, dir, args...); r.code == 0 || !strings.Contains(r.stderr, "breakwater dashboard:") {
			t.Errorf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
}

// On a loopback address the dashboard answers only requests for this
// machine: a site whose name is pointed at 127.0.0.1 (DNS rebinding)
// neither reads it nor presses its buttons.
func TestDashboardOnLoopbackRefusesOtherHosts(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("interrupts a process")
	}
	base, _ := startDashboard(t, t.TempDir(), "--actions")
	_, port, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/"), ":")
	for host, want := range map[string]int{
		"127.0.0.1:" + port:        http.StatusOK,
		"localhost:" + port:        http.StatusOK,
		"[::1]:" + port:            http.StatusOK,
		"attacker.example:" + port: http.StatusForbidden,
		"attacker.example":         http.StatusForbidden,
		"192.168.1.10:" + port:     http.StatusForbidden,
	} {
		req, _ := http.NewRequest(http.MethodGet, base+"snapshot.json", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}
