package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

// consumer is a program outside the repository that uses every released
// module.
const consumer = `package main

import (
	"context"
	"fmt"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwgrpc"
	"github.com/breakwater-go/breakwater/bwhttp"
	"github.com/breakwater-go/breakwater/bwotel"
	"github.com/breakwater-go/breakwater/bwprom"
	"github.com/breakwater-go/breakwater/bwredis"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/watch"
	"go.opentelemetry.io/otel/metric/noop"
)

func main() {
	b, err := breaker.New(breaker.Config{Name: "dependency"})
	check(err)
	r, err := retry.New(retry.Config{MaxAttempts: 1})
	check(err)
	err = breakwater.Do(context.Background(), func(context.Context) error { return nil }, r, b)
	check(err)

	var watched watch.List
	watched.Add(b)
	collector := bwprom.NewCollector(&watched)
	observer, err := bwotel.New(noop.NewMeterProvider(), &watched)
	check(err)
	defer observer.Close()
	interceptor, err := bwgrpc.New(bwgrpc.Config{})
	check(err)
	client, err := bwhttp.NewClient(bwhttp.Config{}, 0)
	check(err)
	_, err = bwredis.New(bwredis.Config{}) // no client: a config error, from the released module
	fmt.Println(b.State(), collector != nil, interceptor.Breakers() != nil, client != nil, err != nil)
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}
`

// TestConsumeAsReleased proves that the modules can be used as released:
// from a module proxy holding them at the release version (built from this
// tree as golang.org/x/mod/zip makes module zips), a new module outside
// the repository, with no workspace and no replace, gets the core and every
// integration and builds and runs a program that uses them all. Third-party
// modules come from the usual proxy, through the local module cache.
func TestConsumeAsReleased(t *testing.T) {
	version, _, env := release(t)

	dir := t.TempDir()
	write(t, filepath.Join(dir, "go.mod"), "module example.com/consumer\n\ngo 1.26.0\n")
	write(t, filepath.Join(dir, "main.go"), consumer)
	args := []string{"get"}
	for _, d := range Released {
		args = append(args, modulePath(d)+"@"+version)
	}
	run(t, dir, env, "go", args...)
	run(t, dir, env, "go", "build", "-o", "consumer", ".")
	out := run(t, dir, env, filepath.Join(dir, "consumer"))
	if got := strings.TrimSpace(out); got != "closed true true true true" {
		t.Fatalf("the consumer printed %q", got)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", gomod, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range Released {
		if !slices.ContainsFunc(f.Require, func(r *modfile.Require) bool {
			return r.Mod.Path == modulePath(d) && r.Mod.Version == version
		}) {
			t.Errorf("the consumer's go.mod does not require %s %s:\n%s", modulePath(d), version, gomod)
		}
	}
}

// TestInstallAsReleased: the command installs with go install ...@latest
// from the module proxy, outside any module, and reports its version.
func TestInstallAsReleased(t *testing.T) {
	version, _, env := release(t)
	bin := t.TempDir()
	run(t, t.TempDir(), append(env, "GOBIN="+bin), "go", "install", Root+"/cmd/breakwater@latest")
	out := run(t, t.TempDir(), env, filepath.Join(bin, "breakwater"), "version")
	if !strings.HasPrefix(out, "breakwater "+version+" ") {
		t.Fatalf("the installed command says %q, want version %s", out, version)
	}
}

// TestEachModuleStandsAlone builds each released module from its zip, on
// its own go.mod, outside the workspace: its requirements must be complete
// (resolving every import, tests included, adds none).
func TestEachModuleStandsAlone(t *testing.T) {
	version, proxy, env := release(t)
	for _, d := range Released {
		t.Run(modulePath(d), func(t *testing.T) {
			dir := t.TempDir()
			unzip(t, filepath.Join(proxy, modulePath(d), "@v", version+".zip"), dir, modulePath(d)+"@"+version+"/")
			before := requires(t, filepath.Join(dir, "go.mod"))
			run(t, dir, env, "go", "list", "-deps", "-test", "./...")
			if after := requires(t, filepath.Join(dir, "go.mod")); !slices.Equal(before, after) {
				t.Fatalf("its go.mod misses requirements:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// TestEveryModuleIsListed: a new module must be released or said not to be.
func TestEveryModuleIsListed(t *testing.T) {
	var found []string
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.Name() == "go.mod" {
			rel, err := filepath.Rel("..", filepath.Dir(path))
			if err != nil {
				return err
			}
			found = append(found, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	listed := slices.Concat(Released, Unreleased)
	slices.Sort(found)
	slices.Sort(listed)
	if !slices.Equal(found, listed) {
		t.Fatalf("modules in the tree %v; Released and Unreleased list %v", found, listed)
	}
}

// release builds the local proxy of this tree at the version the modules
// require, and returns the version, the proxy and a consumer's environment.
func release(t *testing.T) (version, proxy string, env []string) {
	t.Helper()
	version, err := RequiredCore("..")
	if err != nil {
		t.Fatal(err)
	}
	proxy = t.TempDir()
	if err := BuildProxy("..", version, proxy); err != nil {
		t.Fatal(err)
	}
	return version, proxy, consumerEnv(t, proxy)
}

// consumerEnv is the environment of a user outside the repository, with
// the local proxy first: no workspace, a module cache of its own (so that
// a rebuilt release is never confused with a cached one), checksums from
// the checksum database for every module but ours.
func consumerEnv(t *testing.T, proxy string) []string {
	t.Helper()
	cache := strings.TrimSpace(run(t, ".", nil, "go", "env", "GOMODCACHE"))
	upstream := strings.TrimSpace(run(t, ".", nil, "go", "env", "GOPROXY"))
	modcache := t.TempDir()
	t.Cleanup(func() {
		// The module cache is read-only; the go command knows how to remove it.
		cmd := exec.Command("go", "clean", "-modcache")
		cmd.Env = append(os.Environ(), "GOMODCACHE="+modcache)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go clean -modcache: %v\n%s", err, out)
		}
	})
	return append(os.Environ(),
		"GOWORK=off",
		"GOFLAGS=-mod=mod",
		"GOMODCACHE="+modcache,
		"GOPROXY=file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(filepath.Join(cache, "cache", "download"))+","+upstream,
		"GONOSUMDB="+Root,
		"GOTOOLCHAIN=local",
	)
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func requires(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse(path, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rs []string
	for _, r := range f.Require {
		rs = append(rs, r.Mod.String())
	}
	slices.Sort(rs)
	return rs
}

// unzip extracts a module zip into dir, dropping the files' prefix.
func unzip(t *testing.T, zipPath, dir, prefix string) {
	t.Helper()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		name, ok := strings.CutPrefix(f.Name, prefix)
		if !ok {
			t.Fatalf("%s: file %s outside %s", zipPath, f.Name, prefix)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		write(t, dst, string(data))
	}
}

// The workspace stands the tree in for the core at the version the other
// modules require, or the go command would look for that version in vain
// until it is tagged.
func TestWorkspaceReplacesTheRequiredCore(t *testing.T) {
	version, err := RequiredCore("..")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../go.work")
	if err != nil {
		t.Fatal(err)
	}
	w, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range w.Replace {
		if r.Old.Path == Root && r.Old.Version == version && r.New.Path == "./" {
			return
		}
	}
	t.Fatalf("go.work does not replace %s %s with ./", Root, version)
}
