package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The state file holds the circuits of one machine. Every read-modify-write
// holds an exclusive lock on a lock file beside it, and every write goes to
// a temporary file that is renamed over the old one, so that concurrent
// invocations never see a torn or lost update.

const stateVersion = 1

type stateFile struct {
	Version  int                 `json:"version"`
	Circuits map[string]*circuit `json:"circuits"`
}

// fileStore is the state file at path.
type fileStore struct {
	path string
	warn func(format string, args ...any) // reports recovered problems
}

func (s *fileStore) String() string { return s.path }

// Close does nothing: every update opens and closes the file.
func (s *fileStore) Close() error { return nil }

func (s *fileStore) update(key string, f func(c *circuit, now time.Time) (*circuit, error)) error {
	return s.updateAll(func(st *stateFile) error {
		c, err := f(st.Circuits[key], time.Now())
		if err != nil {
			return err
		}
		if c == nil {
			delete(st.Circuits, key)
		} else {
			st.Circuits[key] = c
		}
		return nil
	})
}

func (s *fileStore) load() (map[string]*circuit, time.Time, error) {
	st, err := s.loadAll()
	if err != nil {
		return nil, time.Time{}, err
	}
	return st.Circuits, time.Now(), nil
}

func (s *fileStore) remove(all bool, keys []string) (n int, missing []string, err error) {
	err = s.updateAll(func(st *stateFile) error {
		if all {
			n = len(st.Circuits)
			clear(st.Circuits)
			return nil
		}
		for _, k := range keys {
			if _, ok := st.Circuits[k]; !ok {
				missing = append(missing, k)
				continue
			}
			delete(st.Circuits, k)
			n++
		}
		return nil
	})
	return n, missing, err
}

// updateAll runs f on the state under the file lock and saves what f leaves.
func (s *fileStore) updateAll(f func(*stateFile) error) error {
	path, err := s.file()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer unlock()
	st, err := s.read(path, true)
	if err != nil {
		return err
	}
	if err := f(st); err != nil {
		return err
	}
	return s.write(path, st)
}

// file returns the file the state lives in: the store's path, or the file
// it is a symbolic link to, so that every process naming the link or its
// target shares one state and one lock. It refuses a path in a directory
// that others could have planted a link in, as ssh refuses a loose key
// file: one writable by other users without the sticky bit, or owned by
// another user; and, in a sticky directory (the system's temporary one),
// a link that another user owns.
func (s *fileStore) file() (string, error) {
	if err := safeDir(filepath.Dir(s.path)); err != nil {
		return "", err
	}
	fi, err := os.Lstat(s.path)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return s.path, nil // missing (made on first write) or a file
	}
	if err := safeLink(s.path, fi); err != nil {
		return "", err
	}
	target, err := filepath.EvalSymlinks(s.path)
	if errors.Is(err, fs.ErrNotExist) { // a link to a file not made yet
		if target, err = os.Readlink(s.path); err == nil && !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(s.path), target)
		}
	}
	if err != nil {
		return "", err
	}
	if err := safeDir(filepath.Dir(target)); err != nil {
		return "", err
	}
	return target, nil
}

// loadAll reads the state without changing it or taking the lock: writes
// replace the file atomically, so a reader sees one whole version. It is
// for status, and for run when the state cannot be updated.
func (s *fileStore) loadAll() (*stateFile, error) {
	path, err := s.file()
	if err != nil {
		return nil, err
	}
	return s.read(path, false)
}

// errNewer is a state file written by a newer breakwater: never repaired
// or overwritten.
var errNewer = errors.New("written by a newer version of breakwater")

// read parses the state file. A missing file is an empty state. Entries
// that are null are dropped. A corrupt file is an error, unless repair is
// set: then it is moved aside (to one .corrupt file, replacing an earlier
// one), reported, and replaced by an empty state. A file of a newer
// version is never repaired.
func (s *fileStore) read(path string, repair bool) (*stateFile, error) {
	empty := &stateFile{Version: stateVersion, Circuits: map[string]*circuit{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return nil, err
	}
	var st stateFile
	err = json.Unmarshal(data, &st)
	switch {
	case err == nil && st.Version > stateVersion:
		return nil, fmt.Errorf("state file %s is %w (format %d; this one reads %d)", path, errNewer, st.Version, stateVersion)
	case err == nil && st.Version < 1:
		err = fmt.Errorf("no valid version (%d)", st.Version)
	}
	if err != nil {
		if !repair {
			return nil, fmt.Errorf("state file %s is corrupt (%v); the next \"breakwater run\" will set it aside", path, err)
		}
		aside := path + ".corrupt"
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("state file %s is corrupt (%v) and cannot be moved aside: %w", path, err, rerr)
		}
		s.warn("state file %s was corrupt (%v); kept it as %s and started afresh", path, err, aside)
		return empty, nil
	}
	if st.Circuits == nil {
		st.Circuits = map[string]*circuit{}
	}
	for k, c := range st.Circuits {
		if c == nil {
			delete(st.Circuits, k)
		}
	}
	return &st, nil
}

// write replaces the state file at path atomically, keeping its mode.
func (s *fileStore) write(path string, st *stateFile) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil { // a file shared by a group stays so
		if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			return err
		}
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
