package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// command is a subcommand's flag set with its usage text.
type command struct {
	name  string
	usage string // printed before the flags by --help
	fs    *flag.FlagSet
}

func newCommand(name, usage string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by parse, help by help
	fs.Usage = func() {}
	return &command{name: name, usage: usage, fs: fs}
}

// help writes the command's usage and flags.
func (c *command) help(w io.Writer) {
	fmt.Fprint(w, c.usage)
	if hasFlags(c.fs) {
		fmt.Fprintln(w, "\nFlags:")
		c.fs.VisitAll(func(f *flag.Flag) { printFlag(w, f) })
	}
}

// printFlag writes one flag's help as flag.PrintDefaults does, but with
// the two dashes the README writes.
func printFlag(w io.Writer, f *flag.Flag) {
	name, usage := flag.UnquoteUsage(f)
	if _, isInt := f.Value.(*intValue); isInt && name == "value" {
		name = "int"
	}
	if _, isDur := f.Value.(*durationValue); isDur && name == "value" {
		name = "duration"
	}
	line := "  --" + f.Name
	if name != "" {
		line += " " + name
	}
	def := f.DefValue
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		def = map[string]string{"false": ""}[def]
	}
	if def != "" && def != "0" && def != "0s" && !strings.Contains(usage, "(default") {
		usage += " (default " + def + ")"
	}
	fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parse parses args. It returns done and the exit status when the command
// must stop: --help (its usage on stdout, 0) or a bad flag (one line and a
// hint on stderr, 2).
func (c *command) parse(args []string, stdout, stderr io.Writer) (status int, done bool) {
	err := c.fs.Parse(args)
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, flag.ErrHelp):
		c.help(stdout)
		return 0, true
	}
	return c.fail(stderr, "%s", dashes.ReplaceAllString(err.Error(), "$1--$2")), true
}

// dashes finds the flag names in the flag package's errors, which it
// writes with one dash, to write them as the help and README do.
var dashes = regexp.MustCompile(`((?:flag|defined:|argument:) )-([a-z])`)

// fail reports a usage error with a hint, and returns exitUsage.
func (c *command) fail(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "breakwater %s: %s\nRun \"breakwater %s --help\" for usage.\n", c.name, fmt.Sprintf(format, args...), c.name)
	return exitUsage
}

// intValue is an int flag whose parse error says what it expects.
type intValue int

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v = intValue(n)
	return nil
}

func intFlag(fs *flag.FlagSet, p *int, name string, value int, usage string) {
	*p = value
	fs.Var((*intValue)(p), name, usage)
}

// durationValue is a time.Duration flag whose parse error says what a
// duration looks like.
type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration: give a number with a unit, like 5s, 500ms or 2m", s)
	}
	*d = durationValue(v)
	return nil
}

func durationFlag(fs *flag.FlagSet, name string, value time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	*p = value
	fs.Var((*durationValue)(p), name, usage)
	return p
}

// optionalStatus is an exit status flag that may be unset: it holds the
// status plus one, so that its zero value is unset and shows no default
// (its usage says what unset means).
type optionalStatus int

func (s *optionalStatus) String() string {
	if s == nil || *s == 0 {
		return ""
	}
	return strconv.Itoa(int(*s) - 1)
}

func (s *optionalStatus) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 255 {
		return fmt.Errorf("%q is not an exit status from 0 to 255", v)
	}
	*s = optionalStatus(n + 1)
	return nil
}

// get returns the status, and whether it is set.
func (s optionalStatus) get() (int, bool) { return int(s) - 1, s != 0 }
