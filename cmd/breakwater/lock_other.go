//go:build !unix

package main

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// lockFile takes an exclusive lock by creating path, which must not exist,
// and returns the function that releases it by removing path. A lock left
// by a process that died is taken over after staleLock.
func lockFile(path string) (unlock func(), err error) {
	const staleLock = time.Minute
	for {
		f, err := os.OpenFile(path+".held", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(path + ".held") }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if fi, serr := os.Stat(path + ".held"); serr == nil && time.Since(fi.ModTime()) > staleLock {
			os.Remove(path + ".held")
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
}
