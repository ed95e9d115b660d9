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

func startService(t *testing.T, openFor time.Duration) service {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cachefallback")
	build := exec.Command("go", "build", "-o", bin, "github.com/breakwater-go/breakwater/examples/cachefallback")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the example: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-serve", "-open-for", openFor.String())
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
	var s service
	lines := bufio.NewScanner(stdout)
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
// directory (and to $DASHBOARD_SCREENSHOT, to refresh the README's).
func TestDashboardFollowsAnOutage(t *testing.T) {
	browser := chromium(t)
	svc := startService(t, 3*time.Second)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 520), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()
	if err := chromedp.Do(ctx, chromedp.Navigate(svc.dashboard), chromedp.WaitVisible(`#status[data-connected="true"]`)); err != nil {
		t.Fatalf("loading the dashboard: %v", err)
	}
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
