// Command breakwater runs flaky commands with retries and a circuit breaker
// that remembers, between invocations, that what they call is down.
//
// Usage:
//
//	breakwater run [flags] -- COMMAND [ARGS...]
//	breakwater status [--state FILE] [--json]
//	breakwater demo [--speed N]
//
// Run "breakwater help" or "breakwater COMMAND --help" for details.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `Usage: breakwater <command> [arguments]

Commands:
  run      run a command with retries and a circuit breaker kept between invocations
  status   list the circuits of "run" and their state
  demo     call a flaky HTTP server through retry and a circuit breaker, printing the timeline
  help     show this help

Run "breakwater <command> --help" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:], stdout, stderr)
	case "status":
		return status(args[1:], stdout, stderr)
	case "demo":
		return demo(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "breakwater: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// usageStatus is the exit status for a flag parsing error: 0 for --help.
func usageStatus(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return exitUsage
}
