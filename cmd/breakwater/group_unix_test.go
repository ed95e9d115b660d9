//go:build unix

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A stopped command's processes that ignore SIGTERM are killed once the
// grace has passed, the leader's children with it.
func TestStopTogetherKillsWhatIgnoresTheStop(t *testing.T) {
	needShell(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "sh", "-c", `trap "" TERM; sleep 30 & echo $! > child; wait`)
	cmd.Dir = dir
	grace := 300 * time.Millisecond
	finish := stopTogether(cmd, false, grace)
	cmd.WaitDelay = grace
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	for deadline := time.Now().Add(5 * time.Second); pid == 0; time.Sleep(10 * time.Millisecond) {
		data, _ := os.ReadFile(filepath.Join(dir, "child"))
		pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		if time.Now().After(deadline) {
			t.Fatal("the command did not start its child")
		}
	}
	child, _ := os.FindProcess(pid)
	t.Cleanup(func() { child.Kill() })
	start := time.Now()
	cancel()
	cmd.Wait()
	finish()
	if !gone(child, 5*time.Second) {
		t.Fatalf("the child that ignores SIGTERM still runs %v after the stop", time.Since(start))
	}
	if elapsed := time.Since(start); elapsed < grace {
		t.Errorf("killed after %v, before the grace of %v", elapsed, grace)
	}
}
