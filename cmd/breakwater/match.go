package main

import (
	"bytes"
	"regexp"
	"sync"
)

// maxLine bounds the part of a line that is matched: a command that writes
// a huge line without a newline cannot make breakwater hold it all.
const maxLine = 64 << 10

// lineMatcher is a writer that matches every line written to it against
// re. Output and errors of one command may be written at once, from two
// goroutines.
type lineMatcher struct {
	re *regexp.Regexp

	mu    sync.Mutex
	line  []byte
	found bool
}

func (m *lineMatcher) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(p)
	for len(p) > 0 && !m.found {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			m.line = append(m.line, p[:min(len(p), maxLine-len(m.line))]...)
			break
		}
		m.line = append(m.line, p[:min(i, maxLine-len(m.line))]...)
		m.found = m.re.Match(m.line)
		m.line, p = m.line[:0], p[i+1:]
	}
	return n, nil
}

// matched reports whether a line matched, the last one included even
// without its newline.
func (m *lineMatcher) matched() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.found || len(m.line) > 0 && m.re.Match(m.line)
}
