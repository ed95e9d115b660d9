package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/internal/redisserver"
	"github.com/redis/go-redis/v9"
)

// onRedis returns the environment of invocations that keep their circuits
// in srv.
func onRedis(srv *redisserver.Server) []string {
	return []string{"BREAKWATER_STATE=" + srv.URL()}
}

// clientOf returns a client of srv; password is the one the server wants.
func clientOf(t *testing.T, srv *redisserver.Server, password string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: password})
	t.Cleanup(func() { c.Close() })
	return c
}

// redisCircuit reads the circuit key from Redis as breakwater keeps it.
func redisCircuit(t *testing.T, c *redis.Client, key string) *circuit {
	t.Helper()
	data, err := c.HGet(context.Background(), redisKey, key).Result()
	if err == redis.Nil {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	ci, err := decodeCircuit(data)
	if err != nil {
		t.Fatal(err)
	}
	return ci
}

// setRedisCircuit writes the circuit key into srv.
func setRedisCircuit(t *testing.T, c *redis.Client, key string, ci *circuit) {
	t.Helper()
	data, err := json.Marshal(ci)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(context.Background(), redisKey, key, data).Err(); err != nil {
		t.Fatal(err)
	}
}

// Two runners on one Redis: a circuit opened by one turns the other's
// next invocation away. The second runner invokes breakwater in a loop, as
// a busy CI fleet does; the time from the first runner's trip to the
// second's first refusal is printed.
func TestRedisCircuitIsSharedByRunners(t *testing.T) {
	needShell(t)
	srv := redisserver.Start(t)
	env := onRedis(srv)
	a, b := t.TempDir(), t.TempDir() // two machines: nothing shared but Redis

	refused := make(chan time.Time, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			r := invokeWith(t, b, env, "run", "--key", "api", "--", "true")
			if r.code == exitOpen {
				refused <- time.Now()
				return
			}
			if r.code != 0 {
				t.Errorf("runner b: exit %d\n%s", r.code, r.stderr)
				return
			}
		}
	})
	time.Sleep(50 * time.Millisecond) // runner b is invoking
	tripped := time.Now()
	r := invokeWith(t, a, env, "run", "--key", "api", "--attempts", "1", "--failures", "1", "--open-for", "1m", "--", "false")
	if r.code != 1 || !strings.Contains(r.stderr, "closed -> open") {
		t.Fatalf("runner a: exit %d\n%s", r.code, r.stderr)
	}
	opened := time.Now() // the trip was written before a's process ended
	select {
	case at := <-refused:
		lag := at.Sub(opened)
		t.Logf("runner b refused %v after runner a's invocation ended (that invocation took %v)", lag.Round(time.Millisecond), opened.Sub(tripped).Round(time.Millisecond))
		if lag > 100*time.Millisecond {
			t.Errorf("runner b went on for %v after the circuit opened", lag)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runner b was never refused")
	}
	close(stop)
	wg.Wait()
	if c := redisCircuit(t, clientOf(t, srv, ""), "api"); c == nil || c.State != breaker.Open || c.Trips != 1 || c.Rejections < 1 {
		t.Fatalf("the shared circuit: %+v", c)
	}
}

// Twenty invocations at once on a circuit whose open period has ended:
// exactly one probes; the others are turned away.
func TestRedisHalfOpenAdmitsOneProbe(t *testing.T) {
	needShell(t)
	srv := redisserver.Start(t)
	dir := t.TempDir()
	now := time.Now()
	setRedisCircuit(t, clientOf(t, srv, ""), "api", &circuit{State: breaker.Open, Generation: 4, Trips: 2, Since: now.Add(-time.Minute), OpenUntil: now.Add(-time.Second)})

	const n = 20
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// The probe fails, so the circuit opens again: no invocation
			// that starts late can be let through by a closed circuit.
			r := invokeWith(t, dir, onRedis(srv), "run", "--key", "api", "--attempts", "1", "--failures", "1", "--open-for", "1m",
				"--", "sh", "-c", "echo ran >> probes; exit 1")
			codes[i] = r.code
		})
	}
	wg.Wait()
	data, _ := os.ReadFile(filepath.Join(dir, "probes"))
	probes := strings.Count(string(data), "ran")
	refused := 0
	for _, c := range codes {
		if c == exitOpen {
			refused++
		}
	}
	t.Logf("%d concurrent invocations: %d probe(s), %d turned away", n, probes, refused)
	if probes != 1 || refused != n-1 {
		t.Fatalf("%d probes and %d refusals, want 1 and %d (exit statuses %v)", probes, refused, n-1, codes)
	}
	if c := redisCircuit(t, clientOf(t, srv, ""), "api"); c.State != breaker.Open || c.Trips != 3 || c.Rejections != n-1 {
		t.Fatalf("after the failed probe: %+v", c)
	}
}

// Redis killed while the command runs: the command's exit status is
// breakwater's, with a warning; the next invocation, with Redis gone,
// still runs the command (or, with --strict-state, refuses to: 74). A
// Redis that hangs delays an invocation by about a second of timeouts.
func TestRedisLostMidRun(t *testing.T) {
	needShell(t)
	srv := redisserver.Start(t)
	dir := t.TempDir()
	env := onRedis(srv)
	cmd := exec.Command(binary, "run", "--key", "api", "--attempts", "1", "--", "sh", "-c", "touch started; sleep 1; exit 3")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, "started"))
	srv.Stop()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(stderr.String(), "cannot record the outcome") {
		t.Fatalf("with Redis killed mid-run: %v\n%s", err, stderr.String())
	}

	start := time.Now()
	r := invokeWith(t, dir, env, "run", "--key", "api", "--", "sh", "-c", "exit 5")
	if r.code != 5 || !strings.Contains(r.stderr, "running without a circuit breaker") {
		t.Fatalf("with Redis down: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("with Redis down, an invocation of 4 failing attempts took %v", time.Since(start).Round(time.Millisecond))
	if r := invokeWith(t, dir, env, "run", "--strict-state", "--key", "api", "--", "true"); r.code != exitStateUnusable {
		t.Fatalf("--strict-state with Redis down: exit %d\n%s", r.code, r.stderr)
	}

	srv.Restart()
	srv.Signal(syscall.SIGSTOP) // hung: connections are accepted, never answered
	defer srv.Signal(syscall.SIGCONT)
	start = time.Now()
	r = invokeWith(t, dir, env, "run", "--key", "api", "--", "true")
	took := time.Since(start)
	t.Logf("with Redis hung, an invocation took %v", took.Round(time.Millisecond))
	if r.code != 0 || !strings.Contains(r.stderr, "running without a circuit breaker") {
		t.Fatalf("with Redis hung: exit %d\n%s", r.code, r.stderr)
	}
	if took > 5*time.Second {
		t.Fatalf("with Redis hung, an invocation took %v", took)
	}
}

// status, reset and dashboard work on the circuits in Redis as on a file.
func TestStatusResetAndDashboardOnRedis(t *testing.T) {
	srv := redisserver.Start(t, "--requirepass", "s3cret")
	dir := t.TempDir()
	withPassword := "redis://:s3cret@" + srv.Addr() + "/0"
	env := []string{"BREAKWATER_STATE=" + withPassword}
	if r := invokeWith(t, dir, env, "run", "--key", "api", "--attempts", "1", "--failures", "1", "--", "false"); r.code != 1 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	r := invokeWith(t, dir, env, "status", "--json")
	var v statusView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || len(v.Circuits) != 1 || v.Circuits[0].State != breaker.Open {
		t.Fatalf("status: %v\n%s%s", err, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "s3cret") || !strings.Contains(v.StateFile, srv.Addr()) {
		t.Errorf("status names the state as %q", v.StateFile)
	}

	// The password from the environment, not the URL.
	env = []string{"BREAKWATER_STATE=" + srv.URL(), passwordEnv + "=s3cret"}
	client := clientOf(t, srv, "s3cret")
	base, stop := startDashboardWith(t, env, "--actions")
	if cs := circuitsOf(t, base); cs["api"].State != breaker.Open.String() {
		t.Fatalf("the dashboard shows %+v", cs)
	}
	if code := act(t, base, "reset", "api"); code != 204 {
		t.Fatalf("the dashboard's reset answered %d", code)
	}
	stop()
	if c := redisCircuit(t, client, "api"); c == nil || c.State != breaker.Closed || c.Attempts != 1 {
		t.Fatalf("after the dashboard's reset: %+v", c)
	}
	if r := invokeWith(t, dir, env, "reset", "api", "nosuch"); r.code != 1 || !strings.Contains(r.stdout, "reset 1 circuit(s)") {
		t.Fatalf("reset: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if c := redisCircuit(t, client, "api"); c != nil {
		t.Fatalf("after reset: %+v", c)
	}

	// Without the password: a warning, and the command still runs.
	r = invokeWith(t, dir, []string{"BREAKWATER_STATE=" + srv.URL()}, "run", "--", "true")
	if r.code != 0 || !strings.Contains(r.stderr, "running without a circuit breaker") {
		t.Fatalf("without the password: exit %d\n%s", r.code, r.stderr)
	}
}

func TestRedisURLs(t *testing.T) {
	for _, tc := range []struct {
		url, env, password string
		tls                bool
		err                string
	}{
		{url: "redis://localhost:6379/2", password: ""},
		{url: "redis://localhost:6379/2", env: "p", password: "p"},
		{url: "redis://:fromurl@localhost:6379/0", env: "p", password: "fromurl"},
		{url: "rediss://localhost:6380/0", tls: true},
		{url: "redis://localhost:6379/x", err: "invalid database"},
	} {
		s, err := newRedisStore(tc.url, func(string) string { return tc.env }, nil)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.url, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		o := s.client.Options()
		if o.Password != tc.password || (o.TLSConfig != nil) != tc.tls || o.DialTimeout != redisTimeout {
			t.Errorf("%s: password %q, TLS %v, dial timeout %v", tc.url, o.Password, o.TLSConfig != nil, o.DialTimeout)
		}
		if strings.Contains(s.String(), "fromurl") {
			t.Errorf("%s shows as %s", tc.url, s)
		}
		s.Close()
	}
}

// waitFile waits for a command under test to create path.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
	}
}
