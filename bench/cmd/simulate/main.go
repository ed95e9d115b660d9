// Command simulate replays the scenarios of package sim through each of
// their configurations and writes the tables and charts of docs/: the
// metastable failure scored for every configuration, with the peers played
// in compressed real time (simulation.md, metastable-*.png), the outage
// (simulation.md, simulation.png) and the dependency whose capacity
// halves (overload.md, overload-goodput.png, overload-latency.png) and the
// heavy latency tail, hedged (hedging.md, hedging.png).
//
// Usage: go run ./cmd/simulate [-seed N] [-out DIR] [-peers=false]
package main

import (
	"flag"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/breakwater-go/breakwater/bench/chart"
	"github.com/breakwater-go/breakwater/internal/sim"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

func main() {
	seed := flag.Uint64("seed", sim.Default.Seed, "random seed")
	out := flag.String("out", "../docs", "directory to write the documents and charts to")
	peers := flag.Bool("peers", true, "play the peers in compressed real time (about 50 s)")
	flag.Parse()
	if err := run(*seed, *out, *peers, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "simulate:", err)
		os.Exit(1)
	}
}

func run(seed uint64, dir string, peers bool, stdout io.Writer) error {
	sc := sim.Default
	sc.Seed = seed
	var results []sim.Result
	for _, p := range sim.Configs() {
		r, err := sim.Run(sc, p)
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		results = append(results, r)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	table := markdown(sc, results)
	fmt.Fprint(stdout, table)
	protection, err := metastable(seed, dir, peers, stdout)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "simulation.md"), []byte(protection+document(sc, table)), 0o644); err != nil {
		return err
	}
	if err := outageChart(sc, results, filepath.Join(dir, "simulation.png")); err != nil {
		return err
	}
	if err := overload(seed, dir, stdout); err != nil {
		return err
	}
	return tail(seed, dir)
}

func markdown(sc sim.Scenario, rs []sim.Result) string {
	s := "| configuration | attempts on the failing dependency | failed for users | served by fallback | retries sent | recovery after the outage |\n"
	s += "|---|---:|---:|---:|---:|---:|\n"
	for _, r := range rs {
		rec := "never"
		if r.Recovery >= 0 {
			rec = r.Recovery.String()
		}
		s += fmt.Sprintf("| %s | %d | %d | %d | %d | %s |\n", r.Name, r.OutageAttempts, r.Failed, r.Fallbacks, r.Retries, rec)
	}
	return s
}

func document(sc sim.Scenario, table string) string {
	return fmt.Sprintf(`## Outage

A dependency that fails outright, with no queueing (seed %d; the model is
`+"`sim.Scenario`"+`).

**Scenario.** %.0f requests a second for %v, on a simulated clock, against a
dependency that serves up to %.0f attempts a second and fails %.0f%% of them at
random; it is down (every attempt fails) from %v to %v. Retries: 4 attempts, 1 s
then 2 s then 4 s. Breaker: 5 consecutive failures, open 5 s, 1 probe; requests it
turns away are answered from a cache. Budget: the retry policy's default (10
tokens, 0.1 per success).

%s
- *attempts on the failing dependency*: attempts that reached it during the outage;
- *failed for users*: requests that ended in an error;
- *served by fallback*: requests the breaker turned away, answered from the cache;
- *recovery*: from the end of the outage to the first second in which 98%% of the
  requests that ended succeeded.

![Load on the dependency](simulation.png)

When the dependency fails outright, the breaker is what stops the load: the
retry budget alone still lets a tenth of the retries through.

More scenarios: the dependency's capacity halving for a minute
([overload.md](overload.md)), and a heavy latency tail, hedged
([hedging.md](hedging.md)).
`, sc.Seed, sc.Rate, sc.Duration, sc.Capacity, sc.ErrorRate*100, sc.OutageStart, sc.OutageEnd, table)
}

func outageChart(sc sim.Scenario, rs []sim.Result, path string) error {
	limit := int((sc.Duration + 10*time.Second) / time.Second)
	var all []named
	for _, r := range rs {
		v := make([]float64, limit)
		for s := range v {
			v[s] = float64(r.Load[s])
		}
		all = append(all, named{r.Name, v})
	}
	return lines("Load on the dependency during an outage", "attempts per second", "outage",
		sc.OutageStart, sc.OutageEnd, all, path)
}

// named is one line of a chart: a value per second.
type named struct {
	name   string
	values []float64
}

// lines draws one line per series over time, with the span [from, to)
// shaded and called shade in the legend, which stands beside the plot,
// clear of the data.
func lines(title, ylabel, shade string, from, to time.Duration, all []named, path string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = ylabel
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true

	top := 0.0
	for _, s := range all {
		for _, v := range s.values {
			top = max(top, v)
		}
	}
	area, err := plotter.NewPolygon(plotter.XYs{
		{X: from.Seconds(), Y: 0}, {X: to.Seconds(), Y: 0},
		{X: to.Seconds(), Y: top * 1.05}, {X: from.Seconds(), Y: top * 1.05},
	})
	if err != nil {
		return err
	}
	area.Color = color.RGBA{R: 255, G: 200, B: 200, A: 255}
	area.LineStyle.Width = 0
	p.Add(area)
	legend.Add(shade, area)

	for i, s := range all {
		pts := make(plotter.XYs, len(s.values))
		for x, v := range s.values {
			pts[x] = plotter.XY{X: float64(x), Y: v}
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.Color = chart.Palette[i%len(chart.Palette)]
		line.Dashes = plotutil.Dashes(i % 3)
		line.Width = vg.Points(1.5)
		p.Add(line)
		legend.Add(s.name, line)
	}
	return chart.SaveBeside(p, legend, 14*vg.Inch, 6*vg.Inch, 5*vg.Inch, path)
}
