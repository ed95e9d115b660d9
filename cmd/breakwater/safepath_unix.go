//go:build unix

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// safeDir refuses a directory in which another user could plant or
// replace the state file or a link to it: one writable by others without
// the sticky bit, or owned by a user other than this one or root. A
// directory that does not exist yet is made by this process, and is safe.
func safeDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o002 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("refusing the state directory %s: other users can write to it (chmod o-w it, or choose another --state)", dir)
	}
	if uid, ok := owner(fi); ok && uid != os.Geteuid() && uid != 0 {
		return fmt.Errorf("refusing the state directory %s: it belongs to another user (uid %d)", dir, uid)
	}
	return nil
}

// safeLink refuses a link that another user owns in a directory others
// can write to (a sticky one, as the system's temporary directory): it
// may have been planted to point this process's writes elsewhere.
func safeLink(path string, link fs.FileInfo) error {
	dir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return err
	}
	if dir.Mode().Perm()&0o002 == 0 {
		return nil
	}
	if uid, ok := owner(link); ok && uid != os.Geteuid() {
		return fmt.Errorf("refusing the state file %s: a link owned by another user (uid %d) in a directory everyone can write to", path, uid)
	}
	return nil
}

func owner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
