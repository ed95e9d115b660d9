package main

import (
	"io"
	"os"
)

// stdinSource gives every attempt the same standard input: a terminal (or
// another character device, such as /dev/null) is passed through as it is; a regular file is rewound to where
// it started; anything else (a pipe) is read to its end into a spool file
// first, which each attempt reads from the start.
type stdinSource struct {
	in     *os.File // passed through, or rewound
	rewind bool
	start  int64  // the offset to rewind to
	spool  string // the spool file's path, when spooled
	// terminal is a character device other than the null device: most
	// likely a terminal, which the command must be able to read.
	terminal bool
}

func newStdinSource(in *os.File) (*stdinSource, error) {
	fi, err := in.Stat()
	switch {
	case err != nil: // no usable standard input: the command gets none
		return &stdinSource{}, nil
	case fi.Mode()&os.ModeCharDevice != 0:
		null, err := os.Stat(os.DevNull)
		return &stdinSource{in: in, terminal: err != nil || !os.SameFile(fi, null)}, nil
	case fi.Mode().IsRegular():
		start, err := in.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		return &stdinSource{in: in, rewind: true, start: start}, nil
	}
	f, err := os.CreateTemp("", "breakwater-stdin-*")
	if err != nil {
		return nil, err
	}
	s := &stdinSource{spool: f.Name()}
	_, err = io.Copy(f, in)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// open returns the standard input of an attempt (nil: none) and what to
// close after it.
func (s *stdinSource) open() (*os.File, io.Closer, error) {
	switch {
	case s.spool != "":
		f, err := os.Open(s.spool)
		return f, f, err
	case s.rewind:
		_, err := s.in.Seek(s.start, io.SeekStart)
		return s.in, io.NopCloser(nil), err
	}
	return s.in, io.NopCloser(nil), nil
}

// Close removes the spool file, if any.
func (s *stdinSource) Close() error {
	if s.spool == "" {
		return nil
	}
	return os.Remove(s.spool)
}
