// Package browsertest checks the dashboard in a real headless Chromium. It
// is a module of its own so that the core's tests need neither chromedp
// nor a browser.
package browsertest

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium returns the browser's path: $CHROMIUM, or Debian's. Under CI a
// missing browser fails the test; elsewhere it skips it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("Chromium is missing (Debian package chromium; .ci/run installs it)")
	}
	t.Skip("Chromium is missing: install Debian's chromium, or set CHROMIUM")
	return ""
}

// service is the cachefallback example, built and run with -serve.
type service struct {
	price, dashboard, control string
}

// build builds the command of package pkg of this project, and returns its
// path.
func build(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, "github.com/breakwater-go/breakwater/"+pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// browse starts a headless Chromium and returns its context, which ends
// with the test or after 90 s.
func browse(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 520), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// open loads the page at address and waits until it follows the stream.
func open(t *testing.T, ctx context.Context, address string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(address), chromedp.WaitVisible(`#status[data-connected="true"]`)); err != nil {
		t.Fatalf("loading the dashboard: %v", err)
	}
}

// start starts cmd, its standard error the test's, and returns its
// standard output. The test's cleanup interrupts it.
func start(t *testing.T, cmd *exec.Cmd) *bufio.Scanner {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	return bufio.NewScanner(stdout)
}

func startService(t *testing.T, openFor time.Duration) service {
	t.Helper()
	lines := start(t, exec.Command(build(t, "examples/cachefallback"), "-serve", "-open-for", openFor.String()))
	var s service
	for s.control == "" && lines.Scan() {
		name, addr, _ := strings.Cut(lines.Text(), " ")
		switch name {
		case "service":
			s.price = addr
		case "dashboard":
			s.dashboard = addr
		case "dependency":
			s.control = addr
		}
	}
	if s.price == "" || s.dashboard == "" || s.control == "" {
		t.Fatalf("the example printed no addresses: %v", lines.Err())
	}
	return s
}

func (s service) dependency(t *testing.T, mode string) {
	t.Helper()
	resp, err := http.PostForm(s.control, url.Values{"mode": {mode}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func (s service) ask(t *testing.T) {
	t.Helper()
	resp, err := http.Get(s.price)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// The dashboard, in Chromium, follows a circuit through an outage of the
// example's dependency: open within a second of the trip, half-open while
// the probe is under way, then closed. Screenshots go to the test's temp
// directory (and to $DASHBOARD_SCREENSHOT, to refresh docs/dashboard.png).
func TestDashboardFollowsAnOutage(t *testing.T) {
	ctx := browse(t)
	svc := startService(t, 3*time.Second)
	open(t, ctx, svc.dashboard)
	svc.ask(t) // the circuit exists, closed
	waitState(t, ctx, "closed", 5*time.Second)

	svc.dependency(t, "down")
	for range 2 { // two attempts each: the third failure opens the circuit
		svc.ask(t)
	}
	tripped := time.Now()
	waitState(t, ctx, "open", time.Second)
	t.Logf("open on the page %v after the trip", time.Since(tripped).Round(10*time.Millisecond))
	shot(t, ctx, "open.png")

	svc.dependency(t, "slow")   // the probe takes two seconds: long enough to see
	time.Sleep(3 * time.Second) // the circuit's open duration
	probe := make(chan struct{})
	go func() { defer close(probe); svc.ask(t) }()
	waitState(t, ctx, "half-open", 1500*time.Millisecond)
	shot(t, ctx, "half-open.png")
	<-probe
	waitState(t, ctx, "closed", 2*time.Second)
	shot(t, ctx, "closed.png")
}

// waitState waits until the page shows the circuit in state.
func waitState(t *testing.T, ctx context.Context, state string, within time.Duration) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	sel := `#circuits tbody tr[data-state="` + state + `"]`
	if err := chromedp.Do(wctx, chromedp.WaitVisible(sel)); err != nil {
		now, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("#circuits tbody tr")).map(r => r.dataset.state).join(",")`))
		t.Fatalf("the page did not show the circuit %s within %v (shows %q): %v", state, within, now, err)
	}
}

func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if dst := os.Getenv("DASHBOARD_SCREENSHOT"); dst != "" && name == "open.png" {
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The command's dashboard, in Chromium, shows a circuit "breakwater run"
// opened, offers the actions a state file takes (trip and reset, not
// force-open), and its Reset button closes the circuit for the next run.
func TestCommandDashboardResetsACircuit(t *testing.T) {
	ctx := browse(t)
	bin := build(t, "cmd/breakwater")
	state := filepath.Join(t.TempDir(), "circuits.json")
	breakwater := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "BREAKWATER_STATE="+state)
		return cmd
	}
	if err := breakwater("run", "--key", "nightly-export", "--attempts", "1", "--failures", "1", "--", "false").Run(); err == nil {
		t.Fatal("a failing command succeeded")
	}

	lines := start(t, breakwater("dashboard", "--listen", "127.0.0.1:0", "--actions"))
	lines.Scan()
	_, address, ok := strings.Cut(lines.Text(), " at ")
	if !ok {
		t.Fatalf("the dashboard printed %q: %v", lines.Text(), lines.Err())
	}

	open(t, ctx, address)
	waitState(t, ctx, "open", 5*time.Second)
	buttons, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("#circuits tbody button")).map(b => b.dataset.action).join(",")`))
	if err != nil || buttons != "trip,reset" {
		t.Errorf("buttons %q (%v), want trip,reset", buttons, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`#circuits tbody button[data-action="reset"]`)); err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, "closed", 2*time.Second)
	if err := breakwater("run", "--key", "nightly-export", "--", "true").Run(); err != nil {
		t.Errorf("after the reset, the next run: %v", err)
	}
}
