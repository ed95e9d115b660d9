//go:build unix

package main

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// alive reports whether p still runs. A zombie (exited, not yet reaped:
// a container's first process may never reap orphans) counts as gone.
func alive(p *os.Process) bool {
	if p.Signal(syscall.Signal(0)) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/stat")
	if err != nil {
		return true // no /proc: the signal is all there is to go by
	}
	_, state, _ := bytes.Cut(stat, []byte(") ")) // after the command's name
	return !bytes.HasPrefix(state, []byte("Z"))
}
