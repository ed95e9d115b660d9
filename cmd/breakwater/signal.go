package main

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// signalContext is cancelled by an interrupt or a termination request, so
// that the running command is asked to stop and no further attempt starts.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// signalNumber returns the number of the signal that ended a command.
func signalNumber(ee *exec.ExitError) int {
	if ws, ok := ee.Sys().(interface{ Signal() syscall.Signal }); ok {
		return int(ws.Signal())
	}
	return 1
}
