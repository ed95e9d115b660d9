// Command report turns the output of the peer benchmarks into the results
// table of bench/README.md: the median of each benchmark over its runs, and
// its ratio to Breakwater's figure in the same case and mode.
//
// Usage: go run ./cmd/report RAW_OUTPUT README
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const begin, end = "<!-- results: begin -->", "<!-- results: end -->"

// line matches "BenchmarkCase/lib/mode-2  N  12.3 ns/op  0 B/op  0 allocs/op".
var line = regexp.MustCompile(`^Benchmark(\w+)/([\w.-]+)/(serial|parallel)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op\s+([\d.]+) B/op\s+([\d.]+) allocs/op`)

type key struct{ bench, lib, mode string }

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: report RAW_OUTPUT README")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(rawPath, readmePath string) error {
	raw, err := os.Open(rawPath)
	if err != nil {
		return err
	}
	defer raw.Close()
	samples := map[key][3][]float64{}
	var order []key
	sc := bufio.NewScanner(raw)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		k := key{m[1], m[2], m[3]}
		s, seen := samples[k]
		if !seen {
			order = append(order, k)
		}
		for i := 0; i < 3; i++ {
			v, _ := strconv.ParseFloat(m[4+i], 64)
			s[i] = append(s[i], v)
		}
		samples[k] = s
	}
	if len(order) == 0 {
		return fmt.Errorf("no benchmark lines in %s", rawPath)
	}
	var b strings.Builder
	fmt.Fprintln(&b, "| case | mode | library | ns/op | B/op | allocs/op | × Breakwater |")
	fmt.Fprintln(&b, "|---|---|---|---:|---:|---:|---:|")
	for _, mode := range []string{"serial", "parallel"} {
		for _, k := range order {
			if k.mode != mode {
				continue
			}
			s := samples[k]
			ns := median(s[0])
			ratio := ""
			if bw, ok := samples[key{k.bench, "breakwater", k.mode}]; ok && k.lib != "breakwater" {
				ratio = fmt.Sprintf("%.1f×", ns/median(bw[0]))
			}
			lib := k.lib
			if lib == "breakwater" {
				lib = "**breakwater**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %.0f | %.0f | %s |\n", k.bench, k.mode, lib, format(ns), median(s[1]), median(s[2]), ratio)
		}
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	text := string(readme)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q ... %q markers", readmePath, begin, end)
	}
	text = text[:i+len(begin)] + "\n" + b.String() + text[j:]
	return os.WriteFile(readmePath, []byte(text), 0o644)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func format(ns float64) string {
	if ns >= 100 {
		return strconv.FormatFloat(ns, 'f', 0, 64)
	}
	return strconv.FormatFloat(ns, 'f', 1, 64)
}
