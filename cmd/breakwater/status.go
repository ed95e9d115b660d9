package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
)

const statusUsage = `Usage: breakwater status [--state FILE] [--json]

Lists the circuits in the state file of "breakwater run": their state,
consecutive failures, trips, and how long until an open circuit lets an
invocation probe.

Flags:
`

func status(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, statusUsage); fs.PrintDefaults() }
	path := fs.String("state", defaultStatePath(), "state `file`")
	asJSON := fs.Bool("json", false, "print the circuits as JSON")
	if err := fs.Parse(args); err != nil {
		return usageStatus(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "breakwater status: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	s := &store{path: *path, warn: func(format string, args ...any) {
		fmt.Fprintf(stderr, "breakwater: "+format+"\n", args...)
	}}
	st, err := s.load()
	if err != nil {
		fmt.Fprintln(stderr, "breakwater status:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st.Circuits)
		return 0
	}
	if len(st.Circuits) == 0 {
		fmt.Fprintf(stdout, "no circuits in %s\n", *path)
		return 0
	}
	keys := make([]string, 0, len(st.Circuits))
	for k := range st.Circuits {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSTATE\tFAILURES\tTRIPS\tRETRY IN")
	for _, k := range keys {
		c := st.Circuits[k]
		retryIn := "-"
		if c.State == breaker.Open {
			retryIn = max(c.OpenUntil.Sub(now), 0).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", k, c.State, c.ConsecutiveFailures, c.Trips, retryIn)
	}
	tw.Flush()
	return 0
}
