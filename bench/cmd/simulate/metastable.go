package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/breakwater-go/breakwater/bench/live"
	"github.com/breakwater-go/breakwater/internal/sim"
)

// liveScale is how much faster than the scenario the real-time runs go.
const liveScale = 40

// liveRuns is how many times each peer configuration is played in real
// time: one run's success swung between 81 % and 88 %.
const liveRuns = 5

// seconds is d in seconds, +Inf for never (-1).
func seconds(d time.Duration) float64 {
	if d < 0 {
		return math.Inf(1)
	}
	return d.Seconds()
}

// spread formats the median of vs and their range, "never" for +Inf.
func spread(vs []float64, format string) string {
	s := slices.Clone(vs)
	slices.Sort(s)
	f := func(v float64) string {
		if math.IsInf(v, 1) {
			return "never"
		}
		return fmt.Sprintf(format, v)
	}
	med := s[len(s)/2]
	if s[0] == s[len(s)-1] {
		return f(med)
	}
	return fmt.Sprintf("%s (%s–%s)", f(med), f(s[0]), f(s[len(s)-1]))
}

// metastable scores every configuration in the metastable and background
// scenarios, plays the peers in real time when asked, draws the charts and
// returns the section of simulation.md.
func metastable(seed uint64, dir string, peers bool, stdout io.Writer) (string, error) {
	meta, background := sim.Metastable, sim.Background
	meta.Seed, background.Seed = seed, seed
	var rs, bg []sim.OverloadResult
	for _, p := range sim.MetastableConfigs() {
		r, err := sim.RunOverload(meta, p)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p.Name, err)
		}
		b, err := sim.RunOverload(background, p)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p.Name, err)
		}
		rs, bg = append(rs, r), append(bg, b)
	}
	table := scoreTable(meta, rs, bg)
	fmt.Fprint(stdout, table)

	peerTable := "*(not generated: run without `-peers=false`)*\n"
	var peerGoodput []named
	limit := int((meta.Duration + 10*time.Second) / time.Second)
	if peers {
		var b strings.Builder
		fmt.Fprintf(&b, "Each figure is the median of %d runs, with their range.\n\n", liveRuns)
		b.WriteString("| library: configuration | success | goodput ÷ demand, after | amplification | work wasted | recovery (5-s spans) | shedding from | shed, 5 % errors |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for i := range live.Clients(liveScale) {
			var runs []live.Result
			var success, goodput, amp, wasted, recovery, detect, shed []float64
			for range liveRuns {
				c := live.Clients(liveScale)[i] // fresh policies every run
				r := live.Run(meta, liveScale, c)
				quiet := live.Run(background, liveScale, c)
				runs = append(runs, r)
				success, goodput = append(success, 100*r.SuccessRate()), append(goodput, r.GoodputAfter)
				amp, wasted = append(amp, r.Amplification), append(wasted, 100*r.Wasted)
				recovery, detect = append(recovery, seconds(r.Recovery)), append(detect, seconds(r.Detect))
				shed = append(shed, 100*float64(quiet.Shed)/float64(quiet.Requests))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", runs[0].Name,
				spread(success, "%.1f%%"), spread(goodput, "%.2f"), spread(amp, "%.2f×"), spread(wasted, "%.0f%%"),
				spread(recovery, "%.0fs"), spread(detect, "%.0fs"), spread(shed, "%.1f%%"))
			sort.Slice(runs, func(a, b int) bool { return runs[a].SuccessRate() < runs[b].SuccessRate() })
			median := runs[len(runs)/2]
			peerGoodput = append(peerGoodput, named{median.Name, median.Goodput[:limit]})
		}
		peerTable = b.String()
		fmt.Fprint(stdout, peerTable)
		if err := lines("Goodput in real time (scaled 40×), per library, the run of median success", "successful requests per second", "capacity at 40 %",
			meta.TriggerStart, meta.TriggerEnd, peerGoodput, filepath.Join(dir, "metastable-peers.png")); err != nil {
			return "", err
		}
	}

	charted := map[string]bool{"no protection": true, "retry": true, "retry + budget (gRPC's tokens, 1/s floor)": true,
		"retry + Envoy's budget (anchor)": true, "retry + throttle (K = 2, p ≤ 0.9)": true, "retry + breaker (failure rate)": true,
		"retry + adaptive limit": true, sim.Recommended().Name: true}
	var load, goodput []named
	for _, r := range rs {
		if charted[r.Name] {
			load = append(load, named{r.Name, r.Load[:limit]})
			goodput = append(goodput, named{r.Name, r.Goodput[:limit]})
		}
	}
	if err := lines("Attempts sent to the server", "attempts per second", "capacity at 40 %",
		meta.TriggerStart, meta.TriggerEnd, load, filepath.Join(dir, "metastable-load.png")); err != nil {
		return "", err
	}
	if err := lines("Goodput", "successful requests per second", "capacity at 40 %",
		meta.TriggerStart, meta.TriggerEnd, goodput, filepath.Join(dir, "metastable-goodput.png")); err != nil {
		return "", err
	}
	return fmt.Sprintf(metastableDoc, seed, meta.Rate, meta.Capacity(), meta.Workers, meta.ServiceTime, meta.TriggerCapacity*100,
		meta.TriggerStart, meta.TriggerEnd, meta.Timeout, meta.Duration, table, liveScale, peerTable), nil
}

func scoreTable(o sim.Overload, rs, bg []sim.OverloadResult) string {
	var b strings.Builder
	b.WriteString("| configuration | amplification | goodput ÷ capacity, trigger | goodput ÷ demand, after | success | recovery | work wasted | detection | trips, 5 % errors | shed, 5 % errors |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, r := range rs {
		fmt.Fprintf(&b, "| %s | %.2f× | %.2f | %.2f | %.1f%% | %s | %.0f%% | %s | %d | %.1f%% |\n", r.Name, r.Amplification,
			r.GoodputDuring, r.GoodputAfter, 100*r.SuccessRate(), orNever(r.Recovery), 100*r.Wasted, orNever(r.Detect),
			bg[i].Trips, 100*bg[i].ShedShare)
	}
	return b.String()
}

const metastableDoc = `# Protection benchmark

Generated by ` + "`cd bench && go run ./cmd/simulate`" + ` (seed %d; the simulated
figures are the same for the same seed, the real-time ones vary from run to run).

## Metastable failure

Most large outages that retries made worse were metastable (Huang et al.,
OSDI '22): a short trigger overloads a server, its queue makes calls outlast
their clients' timeouts, the timed-out calls are retried, and the retries keep
the server overloaded after the trigger is gone.

**Scenario** (` + "`sim.Metastable`" + `). %.0f requests a second against a server of
capacity %.0f a second (%d workers, %v each on average, exponentially
distributed, a first-come queue without bound); its capacity falls to %.0f %%
from %v to %v. Clients give up on an attempt after %v; the server still serves
what they gave up on, and that work is wasted. Traffic lasts %v. Every policy
is the real one, on a simulated clock. Retries everywhere: 4 attempts, 100 ms
doubling, full jitter. Breakers: 50 %% of at least 20 calls over 10 s failing
(or, for slow calls, taking 500 ms or more), open 5 s. Throttle and adaptive
limit: their defaults. The last two columns come from ` + "`sim.Background`" + `: the
same server and traffic with no trigger and 5 %% of attempts failing at random,
where any trip or shed call is a false alarm.

%s
- *amplification*: attempts sent ÷ requests (below 1 when calls are shed);
- *goodput ÷ capacity, trigger*: successful requests a second during the
  trigger ÷ the capacity left;
- *goodput ÷ demand, after*: successful requests a second after the trigger ÷
  requests arriving;
- *success*: requests that succeeded; about 96 %% at most, as 700 requests more
  than the server can serve arrive during the trigger;
- *recovery*: from the end of the trigger until the success rate holds at 95 %%
  or more to the end ("never": the failure sustains itself);
- *work wasted*: the share of the server's busy time spent on attempts whose
  client had given up;
- *detection*: from the start of the trigger to the breaker's first trip or
  the first second in which the policies turn away 10 points more of the
  attempts than before it;
- *trips, shed, 5 %% errors*: in the background scenario, the breaker's trips
  and the share of attempts turned away.

![Attempts sent](metastable-load.png)

![Goodput](metastable-goodput.png)

**What the figures say.** Retries alone turn a ten-second trigger into an
outage that never ends: 3.2 attempts per request, more than 90 %% of the
server's work wasted. A retry budget on gRPC's rule (ours by default, with a
floor of one retry a second for callers that make few calls) stops the
retries as soon as failures outnumber successes and the server recovers
as if no one retried: the floor's retries are too few to sustain anything. Budgets that bound retries by concurrency (Envoy's, and
failsafe-go's, which follows it) or by a rate with a floor (Finagle's) do not:
with thousands of attempts queued, a fifth of them is still far too many, and
the failure sustains itself. The throttle reacts, but it sends a tenth of the
calls at least (its cap), and those still time out in the queue: it
cannot drain a queue the way a concurrency limit does. Breakers on failure rate or
slow calls break the loop within seconds of the trigger's end. The adaptive
limit keeps the queue from forming at all: latency bounded, almost no work
wasted, recovery within a second, and nothing shed or tripped under 5 %%
background errors.

**Recommended stack** (the README's): retry with a budget, outside a breaker on
failure rate and slow calls, outside an adaptive limit (` + "`sim.Recommended`" + `). In
this scenario the adaptive limit does the work and the breaker never trips; the
breaker is there for the dependency that fails outright (the outage below),
which a concurrency limit does not see.

## Anchors

The rows marked *anchor* replay other systems' published rules in the same
simulator (` + "`sim.EnvoyBudget`, `sim.FinagleBudget`" + `); the others are Breakwater's
own policies with the published parameters:

| system | rule | source |
|---|---|---|
| gRPC retry throttling | a failure costs 1 token of 10, a success gives 0.1; retries stop while tokens ≤ 5 (ours adds a floor of 1 retry a second, up to 10 at once, as Finagle's has 10 a second) | gRFC A6 |
| Envoy retry budget | retries in flight ≤ max(3, 20 %% of requests in flight) | Envoy ` + "`retry_budget`" + ` |
| Finagle / Linkerd retry budget | retries over the last 10 s ≤ 20 %% of requests + 10 a second | Finagle ` + "`RetryBudget()`" + ` |
| SRE adaptive throttling | refuse with probability max(0, (requests − K·accepts) ÷ (requests + 1)), K = 2, over 2 minutes; ours counts only the requests sent and caps the probability at 0.9, as Envoy's admission control and failsafe-go do | Google SRE book, "Handling Overload" |

## Peers on the same scenario

sony/gobreaker and failsafe-go read the wall clock and take no clock to
inject, so the same scenario is played in compressed real time (` + "`bench/live`" + `):
every duration of the scenario and of the configurations divided by %d, the
server goroutines sleeping their service times, a goroutine per request, on
2 cores. Breakwater runs in the same harness for comparison with its simulated
rows. Real sleeps overshoot and runs differ by several points: each row gives
the median of its runs and their range. Each peer is configured as its own
docs show, with our thresholds, windows and durations, every time constant
scaled (` + "`bench/live/clients.go`" + ` says which doc each follows): gobreaker on its
rolling window (` + "`BucketPeriod`" + `), judging completed calls as ours does, paired
with a loop making the same attempts (it has no retries, budget or concurrency
limit); failsafe-go's retry budget follows Envoy's rule (20 %% of executions in
flight, at least 3), its retries are jittered by ±50 %%
(` + "`WithJitterFactor(0.5)`" + `), its adaptive limiter's recent window (1 s to 30 s)
is scaled, and its breaker does not count the limiter's rejections as failures
(` + "`HandleIf`" + `; ours ignores them by default). The last column is the background
scenario's share of requests shed.

%s
![Goodput per library, in real time](metastable-peers.png)

`
