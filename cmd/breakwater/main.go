// Command breakwater shows Breakwater at work.
//
// Usage:
//
//	breakwater demo    drive a circuit breaker through all its states
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `Usage: breakwater <command>

Commands:
  demo    drive a circuit breaker through all its states and print the timeline
  help    show this help
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "demo":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "breakwater demo: unexpected argument %q\n", args[1])
			return 2
		}
		if err := demo(stdout); err != nil {
			fmt.Fprintln(stderr, "breakwater demo:", err)
			return 1
		}
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "breakwater: unknown command %q\n\n%s", args[0], usage)
	return 2
}
