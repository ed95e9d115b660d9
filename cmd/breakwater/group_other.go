//go:build !unix

package main

import (
	"os/exec"
	"time"
)

// stopTogether stops only the command itself: without process groups, what
// it started is left to it.
func stopTogether(cmd *exec.Cmd, terminal bool, grace time.Duration) (finish func()) {
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	return func() {}
}
