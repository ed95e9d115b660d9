package main

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwyaml"
	"github.com/breakwater-go/breakwater/internal/sim"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/stackfile"
)

const verifyUsage = `Usage: breakwater verify [--scenario NAME] FILE

Builds the policies of a configuration file (package stackfile's format,
in JSON, or in YAML when its name ends .yaml or .yml) and plays each of its stacks in the simulator, on a simulated clock:

  metastable  a server whose capacity falls to 40 % for 10 s under 75 % load:
              amplification, success, recovery, work wasted
  outage      a dependency down for 30 s: attempts sent to it meanwhile
              (a multiple of the requests), recovery
  background  5 % of calls failing at random and nothing else wrong:
              circuits opened and calls turned away (false alarms)
  tail        for stacks with a hedge: p99 with and without it

It also reports contradictions in the file: retries without a budget, a
breaker inside retries whose delays outlast its open duration, and
a per-attempt timeout whose attempts and delays outlast the overall
timeout around them.

Exits 0 when every stack is within the file's limits (its "verify"
section, or the defaults), 1 when one is not or the file is invalid.
`

// scenarios are the names --scenario takes, in the order they are played.
var scenarios = []string{"metastable", "outage", "background", "tail"}

func verifyCmd(args []string, stdout, stderr io.Writer) int {
	c := newCommand("verify", verifyUsage)
	scenario := c.fs.String("scenario", "all", "the scenario to play: "+strings.Join(scenarios, ", ")+" or all")
	if status, done := c.parse(args, stdout, stderr); done {
		return status
	}
	if c.fs.NArg() != 1 {
		return c.fail(stderr, "give one configuration file")
	}
	play := scenarios
	if *scenario != "all" {
		if !slices.Contains(scenarios, *scenario) {
			return c.fail(stderr, "unknown --scenario %q: give one of %s or all", *scenario, strings.Join(scenarios, ", "))
		}
		play = []string{*scenario}
	}
	load := stackfile.Load
	if ext := filepath.Ext(c.fs.Arg(0)); ext == ".yaml" || ext == ".yml" {
		load = bwyaml.Load
	}
	f, err := load(c.fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "breakwater verify: %v\n", err)
		return 1
	}
	failed := 0
	for _, name := range sortedNames(f.Stacks) {
		v := verifyStack(f, name, play)
		fmt.Fprintf(stdout, "stack %s: %s\n", name, strings.Join(f.Stacks[name], " → "))
		for _, l := range v.lines {
			fmt.Fprintln(stdout, "  "+l)
		}
		failed += v.failures
	}
	if len(f.Stacks) == 0 {
		fmt.Fprintln(stdout, "the file has no stacks to verify")
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "FAIL: %d finding(s) past the limits of %s\n", failed, f.Origin)
		return 1
	}
	fmt.Fprintf(stdout, "ok: every stack of %s is within its limits\n", f.Origin)
	return 0
}

// verdict is what verify found for one stack.
type verdict struct {
	lines    []string
	failures int
}

func (v *verdict) add(format string, args ...any) {
	v.lines = append(v.lines, fmt.Sprintf(format, args...))
}

// check adds a finding, failed when bad.
func (v *verdict) check(bad bool, format string, args ...any) {
	mark := "ok  "
	if bad {
		mark = "FAIL"
		v.failures++
	}
	v.add(mark+" "+format, args...)
}

// verifyStack checks the stack of that name and plays it in scenarios.
func verifyStack(f *stackfile.File, name string, play []string) verdict {
	var v verdict
	p, hedging, notes := simPolicy(f, name)
	for _, n := range notes {
		v.add("note %s", n)
	}
	staticChecks(f, name, &v)
	lim := f.Limits
	for _, s := range play {
		switch s {
		case "metastable":
			r, err := sim.RunOverload(sim.Metastable, p)
			if err != nil {
				v.check(true, "metastable: %v", err)
				continue
			}
			v.add("metastable: success %.1f%%, goodput after %.0f%%", 100*r.SuccessRate(), 100*r.GoodputAfter)
			v.check(r.Amplification > lim.MaxAmplification, "metastable: amplification %.2f× (limit %.2g×)", r.Amplification, lim.MaxAmplification)
			v.check(r.Recovery < 0 || r.Recovery > lim.MaxRecovery, "metastable: recovery %s (limit %v)", recovery(r.Recovery), lim.MaxRecovery)
			v.check(r.Wasted > lim.MaxWastedWork, "metastable: work wasted %.1f%% (limit %.3g%%)", 100*r.Wasted, 100*lim.MaxWastedWork)
		case "outage":
			r, err := sim.Run(sim.Default, p)
			if err != nil {
				v.check(true, "outage: %v", err)
				continue
			}
			sc := sim.Default
			load := float64(r.OutageAttempts) / (sc.Rate * (sc.OutageEnd - sc.OutageStart).Seconds())
			v.add("outage: success %.1f%%", 100*float64(r.Succeeded)/float64(r.Requests))
			v.check(load > lim.MaxOutageLoad, "outage: %.2f attempts a request sent to the dependency while down (limit %.2g)", load, lim.MaxOutageLoad)
			v.check(r.Recovery < 0 || r.Recovery > lim.MaxRecovery, "outage: recovery %s (limit %v)", recovery(r.Recovery), lim.MaxRecovery)
		case "background":
			r, err := sim.RunOverload(sim.Background, p)
			if err != nil {
				v.check(true, "background: %v", err)
				continue
			}
			v.check(r.Trips > lim.MaxFalseTrips, "background (5%% errors): %d circuit(s) opened (limit %d)", r.Trips, lim.MaxFalseTrips)
			v.check(r.ShedShare > lim.MaxFalseShed, "background (5%% errors): %.2f%% of calls turned away (limit %.3g%%)", 100*r.ShedShare, 100*lim.MaxFalseShed)
		case "tail":
			if hedging == nil {
				continue
			}
			without, with := sim.RunTail(sim.HeavyTail, sim.Hedging{}), sim.RunTail(sim.HeavyTail, *hedging)
			v.add("tail (1%% of calls 50× slower): p99 %v → %v with the hedge, %.1f%% extra attempts",
				without.P99.Round(time.Millisecond), with.P99.Round(time.Millisecond), 100*with.Extra)
		}
	}
	return v
}

// simPolicy is the stack as the simulator plays it, and what it leaves
// out.
func simPolicy(f *stackfile.File, stack string) (p sim.Policy, h *sim.Hedging, notes []string) {
	p.Name = stack
	retryAt, breakerAt := -1, -1
	var unsimulated []string
	for i, name := range f.Stacks[stack] {
		pol := f.Policies[name]
		switch {
		case pol.Retry != nil && p.Retry == nil:
			p.Retry, p.Budget, p.BudgetConfig, retryAt = pol.Retry, !pol.Retry.NoBudget, pol.Budget, i
		case pol.Breaker != nil && p.Breaker == nil:
			p.Breaker, breakerAt = pol.Breaker, i
		case pol.Throttle != nil && p.Throttle == nil:
			p.Throttle = pol.Throttle
		case pol.Adaptive != nil && p.Adaptive == nil:
			p.Adaptive = pol.Adaptive
		case pol.Hedge != nil && h == nil:
			c := pol.Hedge
			h = &sim.Hedging{Name: name, MaxHedges: max(c.MaxHedges, 1), Delay: c.Delay, Quantile: c.Quantile, BudgetRatio: c.BudgetRatio}
			if h.BudgetRatio == 0 {
				h.BudgetRatio = 0.1 // hedge's default
			}
		case pol.Timeout != nil:
			// the scenarios' clients time each attempt out after 1 s
		default:
			unsimulated = append(unsimulated, name+" ("+pol.Kind()+")")
		}
	}
	if len(unsimulated) > 0 {
		notes = append(notes, "not simulated: "+strings.Join(unsimulated, ", "))
	}
	if retryAt >= 0 && breakerAt >= 0 && breakerAt < retryAt {
		notes = append(notes, "simulated with the retry outside the breaker, the order the simulator knows")
	}
	return p, h, notes
}

// staticChecks reports contradictions in the stack's configuration.
func staticChecks(f *stackfile.File, stack string, v *verdict) {
	names := f.Stacks[stack]
	retryAt := -1
	for i, name := range names {
		if r := f.Policies[name].Retry; r != nil {
			retryAt = i
			if r.NoBudget {
				v.check(true, "policy %s retries without a budget: in an outage every request sends %d attempts", name, attempts(r))
			}
			break
		}
	}
	if retryAt < 0 {
		return
	}
	r := f.Policies[names[retryAt]].Retry
	delays, longest := nominalDelays(r)
	for _, name := range names[retryAt+1:] {
		if f.Policies[name].Breaker == nil {
			continue
		}
		c := *f.Policies[name].Breaker
		c.Name = name
		if b, err := breaker.New(c); err == nil && longest >= b.Config().OpenDuration {
			v.check(true, "breaker %s inside retries %s opens for %v, no longer than the retry's delay of up to %v: a request's next attempt finds the circuit half-open and probes the dependency the breaker keeps calls off",
				name, names[retryAt], b.Config().OpenDuration, longest)
		}
	}
	var overall, perAttempt time.Duration
	for i, name := range names {
		t := f.Policies[name].Timeout
		switch {
		case t == nil:
		case i < retryAt && overall == 0:
			overall = t.Timeout
		case i > retryAt && perAttempt == 0:
			perAttempt = t.Timeout
		}
	}
	if overall == 0 || perAttempt == 0 || r.MaxAttempts == retry.Unlimited {
		return
	}
	need := time.Duration(attempts(r))*perAttempt + delays
	v.check(need > overall, "%d attempts of up to %v and their delays take up to %v, past the overall timeout of %v: the last attempts cannot run",
		attempts(r), perAttempt, need, overall)
}

// nominalDelays returns the sum of a retry's delays between its attempts,
// without jitter, and the longest of them.
func nominalDelays(r *retry.Config) (sum, longest time.Duration) {
	if r.MaxAttempts == retry.Unlimited {
		return 0, 0
	}
	nominal := *r
	nominal.Jitter, nominal.NoBudget, nominal.Budget = retry.JitterNone, true, nil
	rp, err := retry.New(nominal)
	if err != nil {
		return 0, 0
	}
	var prev time.Duration
	for n := 1; n < attempts(r); n++ {
		prev = rp.Delay(n, prev)
		sum += prev
		longest = max(longest, prev)
	}
	return sum, longest
}

// attempts is a retry's attempts in all, its default filled in.
func attempts(r *retry.Config) int {
	if r.MaxAttempts == 0 {
		return 4
	}
	return r.MaxAttempts
}

func recovery(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.String()
}

func sortedNames[V any](m map[string]V) []string {
	var names []string
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
