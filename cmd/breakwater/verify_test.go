package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// configFile is a file of package stackfile's tests.
func configFile(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "stackfile", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// verify passes the README's recommended stack and fails retries without
// a budget, every scenario of both within 10 s.
func TestVerify(t *testing.T) {
	for _, tc := range []struct {
		file string
		code int
		want []string
	}{
		{"recommended.json", 0, []string{"ok   metastable: amplification", "ok: every stack"}},
		{"../../bwyaml/testdata/recommended.yaml", 0, []string{"ok   metastable: amplification 0.96×", "ok: every stack"}},
		{"unbudgeted.json", 1, []string{"FAIL policy retries retries without a budget", "FAIL metastable: recovery never", "FAIL outage: 3.94 attempts"}},
		{"cooldown.json", 1, []string{"FAIL breaker circuit inside retries retries opens for 1s, no longer than the retry's delay of up to 4s"}},
		{"timeouts.json", 1, []string{"FAIL 3 attempts of up to 1s and their delays take up to 3.6s, past the overall timeout of 2s"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			start := time.Now()
			r := invoke(t, t.TempDir(), "verify", configFile(t, tc.file))
			took := time.Since(start)
			t.Logf("%s: exit %d in %v\n%s", tc.file, r.code, took.Round(time.Millisecond), r.stdout)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("no %q in:\n%s", w, r.stdout)
				}
			}
			if took > 10*time.Second {
				t.Errorf("every scenario took %v, past 10 s", took)
			}
		})
	}
}

// The README's configuration file passes, as the README says.
func TestVerifyPassesTheReadmesFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```json\n")
	file, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("the README shows no configuration file")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "resilience.json")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := invoke(t, dir, "verify", path); r.code != 0 || !strings.Contains(r.stdout, "ok: every stack") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestVerifyRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	if r := invoke(t, dir, "verify"); r.code != exitUsage {
		t.Errorf("no file: exit %d", r.code)
	}
	if r := invoke(t, dir, "verify", "--scenario", "flood", configFile(t, "recommended.json")); r.code != exitUsage || !strings.Contains(r.stderr, "unknown --scenario") {
		t.Errorf("unknown scenario: exit %d, %s", r.code, r.stderr)
	}
	r := invokeWith(t, dir, []string{"BREAKWATER_POLICIES_RETRIES_RETRY_MAXATTEMPTS=-5"}, "verify", configFile(t, "recommended.json"))
	if r.code != 1 || !strings.Contains(r.stderr, "policies.retries.retry.maxAttempts") {
		t.Errorf("an invalid override: exit %d, %s", r.code, r.stderr)
	}
	r = invoke(t, dir, "verify", "--scenario", "outage", configFile(t, "recommended.json"))
	if r.code != 0 || strings.Contains(r.stdout, "metastable") {
		t.Errorf("one scenario: exit %d\n%s", r.code, r.stdout)
	}
}
