package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/zip"
)

// Root is the core module's path; the others are under it.
const Root = "github.com/breakwater-go/breakwater"

// Released lists the directories, relative to the repository's root, of
// the modules a release tags: the core ("."), the integrations and the
// command. Each is tagged with its directory as prefix (bwprom/v0.1.0,
// cmd/breakwater/v0.1.0; the core v0.1.0).
var Released = []string{".", "bwgrpc", "bwotel", "bwprom", "bwredis", "bwyaml", "cmd/breakwater"}

// Unreleased lists the modules of the repository that are never tagged:
// benchmarks against peers, the browser test of the dashboard, and this
// tool.
var Unreleased = []string{"bench", "browsertest", "release"}

// modulePath returns the path of the module in directory dir.
func modulePath(dir string) string {
	if dir == "." {
		return Root
	}
	return Root + "/" + filepath.ToSlash(dir)
}

// BuildProxy writes, under out, a module proxy holding every released
// module of the repository at root, at version: its list, .info, .mod and
// .zip files, as GOPROXY=file://out expects them.
func BuildProxy(root, version, out string) error {
	if !semver.IsValid(version) || semver.Build(version) != "" {
		return fmt.Errorf("release: invalid version %q", version)
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return err
	}
	for _, dir := range Released {
		m := module.Version{Path: modulePath(dir), Version: version}
		escaped, err := module.EscapePath(m.Path)
		if err != nil {
			return err
		}
		at := filepath.Join(out, filepath.FromSlash(escaped), "@v")
		if err := os.MkdirAll(at, 0o755); err != nil {
			return err
		}
		src := filepath.Join(root, dir)
		gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
		if err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(at, version+".zip"))
		if err != nil {
			return err
		}
		err = zip.CreateFromDir(f, m, src)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("release: zipping %s: %w", m, err)
		}
		for name, data := range map[string][]byte{
			"list":            []byte(version + "\n"),
			version + ".info": info,
			version + ".mod":  gomod,
		} {
			if err := os.WriteFile(filepath.Join(at, name), data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
