package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
)

const statusUsage = `Usage: breakwater status [--state FILE|URL] [--json]

Lists the circuits in the state (a file or Redis) of "breakwater run": their state, their
run of failures, their trips, and what comes next: how long until an open
circuit lets an invocation probe, or until the probe of a half-open circuit
(if its invocation died) may be taken over. It only reads the state.

--json prints {"state_file": ..., "circuits": [...]}, each circuit with
"key", "state" (closed, open or half-open), "consecutive_failures", "trips",
"open_until" (open), "probe_lease_until" (half-open, while a probe runs) and
"updated"; times in RFC 3339.
`

const resetUsage = `Usage: breakwater reset [--state FILE|URL] (--all | KEY...)

Closes the named circuits of "breakwater run" (or all of them) and forgets
their failures, as if they had never failed.

Exit status: 0 when every named circuit was reset (or --all); 1 when a
named circuit is not in the state (the others are still reset, and
stderr names the missing ones), so a typo in a pipeline does not pass
unseen; 2 for bad flags.
`

// circuitView is a circuit as status shows it.
type circuitView struct {
	Key                 string        `json:"key"`
	State               breaker.State `json:"state"`
	ConsecutiveFailures int           `json:"consecutive_failures"`
	Trips               int           `json:"trips"`
	OpenUntil           time.Time     `json:"open_until,omitzero"`
	ProbeLeaseUntil     time.Time     `json:"probe_lease_until,omitzero"`
	Updated             time.Time     `json:"updated"`
}

type statusView struct {
	StateFile string        `json:"state_file"`
	Circuits  []circuitView `json:"circuits"`
}

func stateFlag(c *command) *string {
	return c.fs.String("state", "", "state `file` or redis:// URL (default: as for run)")
}

func status(args []string, stdout, stderr io.Writer) int {
	c := newCommand("status", statusUsage)
	path := stateFlag(c)
	asJSON := c.fs.Bool("json", false, "print the circuits as JSON")
	if status, done := c.parse(args, stdout, stderr); done {
		return status
	}
	if c.fs.NArg() > 0 {
		return c.fail(stderr, "unexpected argument %q", c.fs.Arg(0))
	}
	if *path == "" {
		*path = defaultStatePath()
	}
	s, err := openStore(*path, nil)
	if err != nil {
		return c.fail(stderr, "--state: %v", err)
	}
	defer s.Close()
	circuits, now, err := s.load()
	if err != nil {
		fmt.Fprintln(stderr, "breakwater status:", err)
		return 1
	}
	v := statusView{StateFile: s.String(), Circuits: []circuitView{}}
	for k, c := range circuits {
		cv := circuitView{Key: k, State: c.State, ConsecutiveFailures: c.ConsecutiveFailures, Trips: c.Trips, Updated: c.Updated}
		switch {
		case c.State == breaker.Open:
			cv.OpenUntil = c.OpenUntil
		case c.State == breaker.HalfOpen && now.Before(c.ProbeUntil):
			cv.ProbeLeaseUntil = c.ProbeUntil
		}
		v.Circuits = append(v.Circuits, cv)
	}
	slices.SortFunc(v.Circuits, func(a, b circuitView) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			fmt.Fprintln(stderr, "breakwater status:", err)
			return 1
		}
		return 0
	}
	if len(v.Circuits) == 0 {
		fmt.Fprintf(stdout, "no circuits in %s\n", s)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSTATE\tFAILURES\tTRIPS\tNEXT")
	for _, c := range v.Circuits {
		next := "-"
		switch {
		case c.State == breaker.Open && c.OpenUntil.After(now):
			next = "probe in " + c.OpenUntil.Sub(now).Round(time.Second).String()
		case c.State == breaker.Open:
			next = "probe due: the next invocation probes"
		case !c.ProbeLeaseUntil.IsZero():
			next = "probing; lease ends in " + c.ProbeLeaseUntil.Sub(now).Round(time.Second).String()
		case c.State == breaker.HalfOpen:
			next = "next invocation probes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", c.Key, c.State, c.ConsecutiveFailures, c.Trips, next)
	}
	tw.Flush()
	return 0
}

func reset(args []string, stdout, stderr io.Writer) int {
	c := newCommand("reset", resetUsage)
	path := stateFlag(c)
	all := c.fs.Bool("all", false, "reset every circuit")
	if status, done := c.parse(args, stdout, stderr); done {
		return status
	}
	keys := c.fs.Args()
	if *all == (len(keys) > 0) {
		return c.fail(stderr, "name the circuits to reset, or give --all")
	}
	if *path == "" {
		*path = defaultStatePath()
	}
	s, err := openStore(*path, func(format string, args ...any) {
		fmt.Fprintf(stderr, "breakwater: "+format+"\n", args...)
	})
	if err != nil {
		return c.fail(stderr, "--state: %v", err)
	}
	defer s.Close()
	n, missing, err := s.remove(*all, keys)
	if err != nil {
		fmt.Fprintln(stderr, "breakwater reset:", err)
		return 1
	}
	fmt.Fprintf(stdout, "reset %d circuit(s)\n", n)
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "breakwater reset: no circuit %q in %s\n", missing, s)
		return 1
	}
	return 0
}
