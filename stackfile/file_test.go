package stackfile_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/stackfile"
)

func TestParseReadsEveryKind(t *testing.T) {
	data := `{
	  "policies": {
	    "r":  {"retry": {"maxAttempts": 3, "delay": "50ms", "jitter": "none", "budget": {"maxTokens": 20}}},
	    "b":  {"breaker": {"trip": {"consecutive": 7}, "openDuration": "1m", "halfOpen": {"max": 2}}},
	    "cw": {"breaker": {"trip": {"countWindow": {"size": 50, "failureRate": 0.4}}}},
	    "t":  {"timeout": {"timeout": "2s"}},
	    "bh": {"bulkhead": {"maxConcurrent": 8, "maxQueue": 4, "maxWait": "10ms"}},
	    "rl": {"rateLimit": {"rate": 100, "burst": 10}},
	    "th": {"throttle": {"k": 2}},
	    "a":  {"adaptive": {"maxLimit": 50}},
	    "h":  {"hedge": {"delay": "20ms"}}
	  },
	  "stacks": {"all": ["r", "th", "b", "bh", "rl", "a", "h", "t"]}
	}`
	f, err := stackfile.Parse([]byte(data), "test.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Policies["r"]; r.Kind() != "retry" || r.Retry.MaxAttempts != 3 || r.Retry.Delay != 50*time.Millisecond ||
		r.Retry.Jitter != retry.JitterNone || r.Budget == nil || r.Budget.MaxTokens != 20 || r.Retry.Name != "r" {
		t.Errorf("retry: %+v %+v", r.Retry, r.Budget)
	}
	if b := f.Policies["b"]; b.Breaker.Trip != breaker.Consecutive(7) || b.Breaker.OpenDuration != time.Minute || b.Breaker.HalfOpen.Max != 2 {
		t.Errorf("breaker: %+v", b.Breaker)
	}
	if w, ok := f.Policies["cw"].Breaker.Trip.(breaker.CountWindow); !ok || w.Size != 50 || w.FailureRate != 0.4 {
		t.Errorf("count window: %+v", f.Policies["cw"].Breaker.Trip)
	}
	set, err := f.Build(stackfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	all, ok := set.Stack("all")
	if !ok {
		t.Fatal("no stack all")
	}
	if err := breakwater.Do(context.Background(), func(context.Context) error { return nil }, all...); err != nil {
		t.Fatal(err)
	}
	if _, ok := set.Policy("b").(*breaker.Breaker); !ok {
		t.Errorf("Policy(b) is %T", set.Policy("b"))
	}
}

// Every error names the file, the path inside it and what is wrong, and
// matches config.ErrInvalid.
func TestErrorsNameThePath(t *testing.T) {
	for _, tc := range []struct {
		name, data, path, reason string
		env                      []string
	}{
		{"not JSON", `{"policies": `, "", "not JSON", nil},
		{"unknown top field", `{"policy": {}}`, "policy", "unknown field", nil},
		{"unknown kind", `{"policies": {"x": {"retyr": {}}}}`, "policies.x.retyr", "unknown field", nil},
		{"two kinds", `{"policies": {"x": {"retry": {}, "timeout": {}}}}`, "policies.x", "one key", nil},
		{"misspelt field", `{"policies": {"x": {"retry": {"maxAttempt": 3}}}}`, "policies.x.retry.maxAttempt", "unknown field", nil},
		{"wrong type", `{"policies": {"x": {"retry": {"delay": 100}}}}`, "policies.x.retry.delay", "duration", nil},
		{"bad duration", `{"policies": {"x": {"retry": {"delay": "soon"}}}}`, "policies.x.retry.delay", "duration", nil},
		{"fraction for a count", `{"policies": {"x": {"retry": {"maxAttempts": 2.5}}}}`, "policies.x.retry.maxAttempts", "whole number", nil},
		{"bad jitter", `{"policies": {"x": {"retry": {"jitter": "lots"}}}}`, "policies.x.retry.jitter", "one of", nil},
		{"refused by the constructor", `{"policies": {"x": {"breaker": {"trip": {"countWindow": {"size": 10, "minCalls": 50}}}}}}`,
			"policies.x.breaker.trip.minCalls", "MinCalls", nil},
		{"stack of an unknown policy", `{"policies": {"x": {"timeout": {"timeout": "1s"}}}, "stacks": {"s": ["x", "y"]}}`, "stacks.s[1]", "no policy is named y", nil},
		{"empty stack", `{"stacks": {"s": []}}`, "stacks.s", "list of policy names", nil},
		{"override of nothing", `{"policies": {"x": {"timeout": {"timeout": "1s"}}}}`, "BREAKWATER_POLICIES_Y_TIMEOUT_TIMEOUT", "overrides no field",
			[]string{"BREAKWATER_POLICIES_Y_TIMEOUT_TIMEOUT=2s"}},
		{"bad override", `{"policies": {"x": {"retry": {}}}}`, "policies.x.retry.maxAttempts", "number",
			[]string{"BREAKWATER_POLICIES_X_RETRY_MAXATTEMPTS=many"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := stackfile.Parse([]byte(tc.data), "svc.json", tc.env)
			var fe *stackfile.Error
			if !errors.As(err, &fe) || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("err %v (%T), want a *stackfile.Error", err, err)
			}
			if fe.File != "svc.json" || fe.Path != tc.path || !strings.Contains(fe.Reason, tc.reason) {
				t.Fatalf("got %q (path %q), want path %q and %q in the reason", err, fe.Path, tc.path, tc.reason)
			}
		})
	}
}

// The environment overrides a field, present in the file or not; the
// variables of other uses (BREAKWATER_STATE) are left alone.
func TestEnvironmentOverrides(t *testing.T) {
	data := `{"policies": {"api-retry": {"retry": {"maxAttempts": 4}}}}`
	f, err := stackfile.Parse([]byte(data), "svc.json", []string{
		"BREAKWATER_POLICIES_API_RETRY_RETRY_MAXATTEMPTS=2",
		"BREAKWATER_POLICIES_API_RETRY_RETRY_DELAY=250ms",
		"BREAKWATER_POLICIES_API_RETRY_RETRY_BUDGET=false",
		"BREAKWATER_VERIFY_MAXRECOVERY=1m",
		"BREAKWATER_STATE=/tmp/x",
		"PATH=/bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	r := f.Policies["api-retry"].Retry
	if r.MaxAttempts != 2 || r.Delay != 250*time.Millisecond || !r.NoBudget || f.Limits.MaxRecovery != time.Minute {
		t.Fatalf("%+v, limits %+v", r, f.Limits)
	}
}

func TestLoadReadsTheFileAndTheEnvironment(t *testing.T) {
	t.Setenv("BREAKWATER_POLICIES_RETRIES_RETRY_MAXATTEMPTS", "6")
	f, err := stackfile.Load("testdata/recommended.json")
	if err != nil {
		t.Fatal(err)
	}
	if f.Policies["retries"].Retry.MaxAttempts != 6 || len(f.Stacks["api"]) != 3 {
		t.Fatalf("%+v %v", f.Policies["retries"].Retry, f.Stacks)
	}
	if _, err := stackfile.Load("testdata/none.json"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing file: %v", err)
	}
}
