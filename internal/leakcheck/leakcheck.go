// Package leakcheck fails a test binary whose tests leave goroutines
// running: no goroutine may outlive its owner.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests of m and, if they pass, checks that every goroutine
// they started has ended; it exits with the result. Use it as TestMain:
//
//	func TestMain(m *testing.M) { leakcheck.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := Leaked(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leakcheck: goroutines still running after the tests:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// Leaked returns the stacks of the goroutines other than the caller's and
// the runtime's that are still running once wait has passed, or "" as soon
// as there are none. Goroutines that end on their own shortly after their
// owner returns (a connection closing, an abandoned call finishing) are
// given that long to end.
func Leaked(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		leaked := others()
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // waiting for goroutines to end: there is no event to wait on
	}
}

// expected are goroutines of the standard library and the test framework
// that outlive any test by design.
var expected = []string{
	"testing.(*M).",
	"testing.runFuzzing",
	"os/signal.signal_recv",
	"runtime.ensureSigM",
	"internal/fuzz.",
	"testing/synctest.",
}

func others() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 { // the caller's own goroutine comes first
			continue
		}
		known := false
		for _, e := range expected {
			if strings.Contains(g, e) {
				known = true
				break
			}
		}
		if !known && strings.TrimSpace(g) != "" {
			out = append(out, g)
		}
	}
	return out
}
