package breakwater_test

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestCoreRequiresNothing keeps the promise that importing Breakwater's
// core pulls in no other module: go.mod has no require lines, and no core
// package imports anything outside the standard library and this module.
func TestCoreRequiresNothing(t *testing.T) {
	f, err := os.Open("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var module string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "module":
			module = fields[1]
		case "require":
			t.Errorf("go.mod of the core module has a require line: %q", sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("go", "list", "-deps", "-test", "-f", "{{if not .Standard}}{{.ImportPath}} {{with .Module}}{{.Path}}{{end}}{{end}}", "./...")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line) // import path, then its module
		if len(fields) > 0 && fields[len(fields)-1] != module {
			t.Errorf("the core module depends on %s", line)
		}
	}
}

// TestPoliciesStandAlone keeps the policy packages side by side: none
// imports another policy package or the root package that composes them.
// What one needs to know of another (is this error a rejection? when will
// the circuit let a call through?) it asks through a small interface of
// its own.
func TestPoliciesStandAlone(t *testing.T) {
	const module = "github.com/breakwater-go/breakwater"
	policies := []string{"breaker", "retry", "timeout", "fallback", "bulkhead", "ratelimit", "throttle", "adaptive", "hedge"}
	for _, p := range policies {
		out, err := exec.Command("go", "list", "-deps", "./"+p).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == module {
				t.Errorf("package %s imports the root package", p)
			}
			for _, other := range policies {
				if other != p && dep == module+"/"+other {
					t.Errorf("package %s imports package %s", p, other)
				}
			}
		}
	}
}

// TestNoLargeTrackedFiles keeps build outputs out of the repository: no
// tracked file is larger than 1 MB.
func TestNoLargeTrackedFiles(t *testing.T) {
	out, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if fi, err := os.Stat(name); err == nil && fi.Size() > 1<<20 {
			t.Errorf("%s is tracked and %d bytes: a build output? (add it to .gitignore)", name, fi.Size())
		}
	}
}
