//go:build unix

package main

import (
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"
)

// stopTogether makes cmd the leader of a process group of its own, so that
// stopping an attempt (its time limit, an interrupt) stops what the command
// started too, as timeout(1) does: the whole group is asked to stop with
// SIGTERM, and what is left of it after grace is killed. It returns finish,
// to call once cmd has been waited for: after a stop, it waits for the
// group to be gone, until grace has passed since the stop, then kills the
// rest. A command whose standard input is a terminal stays in breakwater's
// group, which the terminal reads for: only its leader is asked to stop.
func stopTogether(cmd *exec.Cmd, terminal bool, grace time.Duration) (finish func()) {
	if terminal {
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		return func() {}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stopped atomic.Int64 // when the group was asked to stop, in Unix nanoseconds
	cmd.Cancel = func() error {
		stopped.Store(time.Now().UnixNano())
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	return func() {
		at := stopped.Load()
		if at == 0 {
			return // not stopped: what the command left running is its own business
		}
		group := -cmd.Process.Pid
		deadline := time.Unix(0, at).Add(grace)
		for syscall.Kill(group, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		syscall.Kill(group, syscall.SIGKILL)
	}
}
