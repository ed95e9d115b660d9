package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/modfile"
)

// RequiredCore returns the version of the core module that every other
// module of the repository at root requires: the version of the next
// release, which the core is tagged with. It is an error for them to
// disagree, to replace the core, or to require no version of it.
func RequiredCore(root string) (string, error) {
	version := ""
	for _, dir := range append(Released[1:], Unreleased...) {
		path := filepath.Join(root, dir, "go.mod")
		data, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		f, err := modfile.ParseLax(path, data, nil)
		if err != nil {
			return "", err
		}
		if len(f.Replace) > 0 {
			return "", fmt.Errorf("release: %s has replace directives; a replace is ignored when the module is a dependency (the workspace, go.work, is for development)", path)
		}
		found := false
		for _, r := range f.Require {
			if r.Mod.Path != Root {
				continue
			}
			found = true
			if version != "" && r.Mod.Version != version {
				return "", fmt.Errorf("release: %s requires the core at %s, others at %s", path, r.Mod.Version, version)
			}
			version = r.Mod.Version
		}
		if !found && dir != "release" {
			return "", fmt.Errorf("release: %s does not require %s", path, Root)
		}
	}
	if version == "" {
		return "", fmt.Errorf("release: no module requires %s", Root)
	}
	return version, nil
}
