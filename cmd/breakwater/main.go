// Command breakwater runs flaky commands with retries and a circuit breaker
// that remembers, between invocations, that what they call is down.
//
// Usage:
//
//	breakwater run [flags] -- COMMAND [ARGS...]
//	breakwater status [--state FILE|URL] [--json]
//	breakwater reset [--state FILE|URL] (--all | KEY...)
//	breakwater dashboard [--state FILE|URL] [--listen ADDR] [--actions]
//	breakwater demo [--speed N]
//	breakwater verify [--scenario NAME] FILE
//	breakwater version
//
// Run "breakwater help" or "breakwater help COMMAND" for details.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

const usage = `Usage: breakwater <command> [arguments]

Commands:
  run        run a command with retries and a circuit breaker kept between invocations
  status     list the circuits of "run" and their state
  reset      close circuits of "run" and forget their failures
  dashboard  serve a live page of the circuits of "run"
  verify     check a configuration file's stacks in the simulator and for contradictions
  demo       call a flaky HTTP server through retry and a circuit breaker, printing the timeline
  version    print breakwater's version (also --version)
  help       show this help, or a command's: breakwater help run

Run "breakwater help <command>" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// commands are the subcommands, by name.
var commands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"run": runCmd, "status": status, "reset": reset, "dashboard": dashboardCmd, "demo": demo, "verify": verifyCmd, "version": version,
}

// run executes the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	if f, ok := commands[args[0]]; ok {
		return f(args[1:], stdout, stderr)
	}
	switch args[0] {
	case "--version", "-version", "-v":
		return version(nil, stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if _, ok := commands[args[1]]; !ok {
				fmt.Fprintf(stderr, "breakwater help: unknown command %q\n\n%s", args[1], usage)
				return exitUsage
			}
			return commands[args[1]]([]string{"--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "breakwater: unknown command %q\nRun \"breakwater help\" for the commands.\n", args[0])
	return exitUsage
}

const versionUsage = `Usage: breakwater version

Prints breakwater's version (the module version it was built from, or
(devel) when built from a working tree) and the Go version.
`

func version(args []string, stdout, stderr io.Writer) int {
	c := newCommand("version", versionUsage)
	if status, done := c.parse(args, stdout, stderr); done {
		return status
	}
	if c.fs.NArg() > 0 {
		return c.fail(stderr, "unexpected argument %q", c.fs.Arg(0))
	}
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	fmt.Fprintf(stdout, "breakwater %s %s\n", v, runtime.Version())
	return 0
}
