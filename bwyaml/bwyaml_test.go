package bwyaml_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwyaml"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/stackfile"
)

// A YAML file means what the same file in JSON means.
func TestYAMLIsTheJSONFile(t *testing.T) {
	y, err := bwyaml.Load("testdata/recommended.yaml")
	if err != nil {
		t.Fatal(err)
	}
	j, err := stackfile.Load(filepath.Join("..", "stackfile", "testdata", "recommended.json"))
	if err != nil {
		t.Fatal(err)
	}
	y.Origin = j.Origin
	for name, p := range j.Policies {
		if !reflect.DeepEqual(p.Retry, y.Policies[name].Retry) || !reflect.DeepEqual(p.Breaker, y.Policies[name].Breaker) ||
			!reflect.DeepEqual(p.Adaptive, y.Policies[name].Adaptive) {
			t.Errorf("policy %s: YAML %+v, JSON %+v", name, y.Policies[name], p)
		}
	}
	if !reflect.DeepEqual(y.Stacks, j.Stacks) || y.Limits != j.Limits {
		t.Errorf("stacks %v / %v, limits %+v / %+v", y.Stacks, j.Stacks, y.Limits, j.Limits)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"not YAML", "policies: [", "not YAML"},
		{"empty", "", "empty"},
		{"two documents", "stacks: {}\n---\nstacks: {}\n", "more than one document"},
		{"a key that is not a string", "policies:\n  1: {timeout: {timeout: 1s}}\n", "not a string"},
		{"the JSON file's error, same path", "policies:\n  t:\n    timeout: {timeout: soon}\n", "policies.t.timeout.timeout: must be a duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bwyaml.Parse([]byte(tc.data), "svc.yaml", nil)
			var fe *stackfile.Error
			if !errors.As(err, &fe) || !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || fe.File != "svc.yaml" {
				t.Fatalf("err %v, want a *stackfile.Error of svc.yaml saying %q", err, tc.want)
			}
		})
	}
}

// A Live keeps a YAML file in force through Options.Decode.
func TestLiveYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svc.yaml")
	write := func(open string) {
		data := "policies:\n  circuit:\n    breaker: {trip: {consecutive: 1}, openDuration: " + open + "}\nstacks:\n  api: [circuit]\n"
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("1m")
	l, err := stackfile.Open(path, stackfile.Options{Decode: bwyaml.ToJSON})
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Do(context.Background(), "api", func(context.Context) error { return errors.New("down") })
	write("2m")
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	b := l.Set().Policy("circuit").(*breaker.Breaker)
	if b.Config().OpenDuration != 2*time.Minute || b.State() != breaker.Open {
		t.Fatalf("after the reload: open duration %v, state %v", b.Config().OpenDuration, b.State())
	}
	if err := os.WriteFile(path, []byte("policies: ["), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(); err == nil || !strings.Contains(err.Error(), "not YAML") {
		t.Fatalf("an invalid file: %v", err)
	}
}

// ToJSON never panics; what it accepts is JSON.
func FuzzToJSON(f *testing.F) {
	data, err := os.ReadFile("testdata/recommended.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("a: [1, 2.5, .inf, ~, true, {b: c}]"))
	f.Add([]byte("? [a]\n: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := bwyaml.ToJSON(data)
		if err == nil {
			if _, err := stackfile.Parse(j, "fuzz.json", nil); err != nil {
				var fe *stackfile.Error
				if !errors.As(err, &fe) {
					t.Fatalf("ToJSON gave what is not JSON: %v", err)
				}
			}
		}
	})
}
