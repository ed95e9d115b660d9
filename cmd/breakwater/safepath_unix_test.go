//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A state path that is a link writes through to the link's target, so
// processes naming the link and the target share one state and one lock;
// the file keeps its mode. (Before, one run replaced the link with a file
// of its own, mode 0600.)
func TestStateThroughALinkKeepsTheSharedFileAndItsMode(t *testing.T) {
	shared := t.TempDir()
	target := filepath.Join(shared, "circuits.json")
	if err := os.WriteFile(target, []byte(`{"version":1,"circuits":{}}`), 0o664); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(target, 0o664); err != nil { // whatever the umask
		t.Fatal(err)
	}
	mine := t.TempDir()
	link := filepath.Join(mine, "state.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if r := invoke(t, mine, "run", "--state", link, "--key", "k", "--", "false"); r.code == 0 {
		t.Fatalf("run: exit 0\n%s", r.stderr)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v, %v", fi.Mode(), err)
	}
	fi, err := os.Stat(target)
	if err != nil || fi.Mode().Perm() != 0o664 {
		t.Fatalf("the shared file's mode: %v, %v; want 0664", fi.Mode().Perm(), err)
	}
	var st stateFile
	data, _ := os.ReadFile(target)
	if err := json.Unmarshal(data, &st); err != nil || st.Circuits["k"] == nil || st.Circuits["k"].Attempts == 0 {
		t.Fatalf("the shared file did not see the attempts: %s", data)
	}
	if _, err := os.Stat(target + ".lock"); err != nil {
		t.Errorf("no lock beside the shared file: %v", err)
	}
	// A link to a file not made yet is followed too.
	dangling := filepath.Join(mine, "later.json")
	os.Symlink(filepath.Join(shared, "later.json"), dangling)
	invoke(t, mine, "run", "--state", dangling, "--key", "k", "--", "true")
	if _, err := os.Stat(filepath.Join(shared, "later.json")); err != nil {
		t.Errorf("a dangling link's target was not made: %v", err)
	}
}

// A state path in a directory others can write to (without the sticky
// bit) or that another user owns is refused: a link planted there would
// point this user's writes at a file of the planter's choosing.
func TestStateInALooseDirectoryIsRefused(t *testing.T) {
	loose := filepath.Join(t.TempDir(), "loose")
	if err := os.Mkdir(loose, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o777); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(loose, "state.json")
	r := invoke(t, loose, "run", "--state", state, "--strict-state", "--key", "k", "--", "true")
	if r.code != exitStateUnusable || !strings.Contains(r.stderr, "other users can write") {
		t.Fatalf("a world-writable state directory: exit %d\n%s", r.code, r.stderr)
	}
	if r := invoke(t, loose, "status", "--state", state); r.code != 1 || !strings.Contains(r.stderr, "other users can write") {
		t.Fatalf("status in a world-writable directory: exit %d\n%s", r.code, r.stderr)
	}
	// Sticky, as the system's temporary directory: a file there is fine,
	// a link another user planted there is not.
	if err := os.Chmod(loose, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if r := invoke(t, loose, "run", "--state", state, "--strict-state", "--key", "k", "--", "true"); r.code != 0 {
		t.Fatalf("a sticky directory: exit %d\n%s", r.code, r.stderr)
	}
	if os.Geteuid() != 0 {
		t.Skip("planting another user's link needs root")
	}
	planted := filepath.Join(loose, "planted.json")
	if err := os.Symlink(filepath.Join(t.TempDir(), "victim.json"), planted); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(planted, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	r = invoke(t, loose, "run", "--state", planted, "--strict-state", "--key", "k", "--", "true")
	if r.code != exitStateUnusable || !strings.Contains(r.stderr, "owned by another user") {
		t.Fatalf("a planted link: exit %d\n%s", r.code, r.stderr)
	}
	other := filepath.Join(t.TempDir(), "other")
	os.Mkdir(other, 0o755)
	if err := os.Chown(other, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	r = invoke(t, other, "run", "--state", filepath.Join(other, "state.json"), "--strict-state", "--key", "k", "--", "true")
	if r.code != exitStateUnusable || !strings.Contains(r.stderr, "belongs to another user") {
		t.Fatalf("a directory of another user: exit %d\n%s", r.code, r.stderr)
	}
}
