// Package churntest drives, from a seed, the policies a metrics exporter
// watches through their lives: breakers and bulkheads made on first use
// in registries (two of each kind, sharing names), evicted, made again
// under the same name; breakers watched alone, and twice. The exporters'
// property tests (bwprom, bwotel) churn a World while they scrape, and
// check each scrape against it.
package churntest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/breakwater-go/breakwater/registry"
	"github.com/breakwater-go/breakwater/watch"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
)

// names is the pool the registries' keys come from: more names than a
// registry holds, so that they evict.
var names = []string{"api", "auth", "cart", "db", "edge", "feed", "geo", "hub"}

// World is a set of churning policies. Step may run on one goroutine
// while the exporter scrapes on others.
type World struct {
	rng       *rand.Rand
	breakers  [2]*registry.Registry[*breaker.Breaker]
	bulkheads [2]*registry.Registry[*bulkhead.Bulkhead]

	mu        sync.Mutex
	solo      []*breaker.Breaker // watched alone (and some twice), never evicted
	succeeded map[string]float64 // per name, the calls through registry breakers that succeeded
}

// New returns a World for seed whose policies w watches: both breaker
// registries (the first one twice), both bulkhead registries.
func New(seed uint64, w *watch.List) *World {
	wd := &World{rng: rand.New(rand.NewPCG(seed, 7)), succeeded: map[string]float64{}}
	for i := range wd.breakers {
		wd.breakers[i], _ = breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(3)}, 3)
		wd.bulkheads[i], _ = bulkhead.NewRegistry(bulkhead.Config{}, 3)
		w.Add(wd.breakers[i])
		w.Add(breakwater.Shedding{Bulkheads: wd.bulkheads[i]})
	}
	w.Add(wd.breakers[0]) // watched twice: counted once
	return wd
}

var errDown = errors.New("503")

// Step makes one change: calls through a registry's policy of a random
// name (making it, and evicting another, if need be), or a new breaker
// watched alone (sometimes twice), or calls through one of those.
func (wd *World) Step(w *watch.List) {
	ctx := context.Background()
	ok := func(context.Context) error { return nil }
	fail := func(context.Context) error { return errDown }
	switch wd.rng.IntN(10) {
	case 0:
		wd.mu.Lock()
		b, _ := breaker.New(breaker.Config{Name: fmt.Sprintf("solo-%d", len(wd.solo))})
		wd.solo = append(wd.solo, b)
		wd.mu.Unlock()
		w.Add(b)
		if wd.rng.IntN(2) == 0 {
			w.Add(b) // watched twice
		}
	case 1, 2:
		wd.mu.Lock()
		var b *breaker.Breaker
		if len(wd.solo) > 0 {
			b = wd.solo[wd.rng.IntN(len(wd.solo))]
		}
		wd.mu.Unlock()
		if b != nil {
			b.Do(ctx, ok)
		}
	case 3, 4, 5, 6:
		b := wd.breakers[wd.rng.IntN(2)].Get(names[wd.rng.IntN(len(names))])
		fn := ok
		if wd.rng.IntN(4) == 0 {
			fn = fail
		}
		for range 1 + wd.rng.IntN(3) {
			if b.Do(ctx, fn) == nil {
				wd.mu.Lock()
				wd.succeeded[b.Name()]++
				wd.mu.Unlock()
			}
		}
	default:
		bh := wd.bulkheads[wd.rng.IntN(2)].Get(names[wd.rng.IntN(len(names))])
		bh.Do(ctx, ok)
	}
}

// Solo returns the breakers watched alone, which no registry evicts: an
// exporter must report each exactly as its own Metrics say, however many
// times it is watched.
func (wd *World) Solo() []*breaker.Breaker {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	return append([]*breaker.Breaker(nil), wd.solo...)
}

// Succeeded returns how many calls through the registries' breakers of
// name have succeeded, ever: no report of the name's successes can be
// more (a breaker counted twice would be).
func (wd *World) Succeeded(name string) float64 {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	return wd.succeeded[name]
}

// LiveCircuits returns the names that have a breaker now: those an
// exporter must report, and no other.
func (wd *World) LiveCircuits() map[string]bool {
	live := map[string]bool{}
	for _, r := range wd.breakers {
		for _, b := range r.All() {
			live[b.Name()] = true
		}
	}
	for _, b := range wd.Solo() {
		live[b.Name()] = true
	}
	return live
}

// LiveBulkheads returns the names that have a bulkhead now.
func (wd *World) LiveBulkheads() map[string]bool {
	live := map[string]bool{}
	for _, r := range wd.bulkheads {
		for _, b := range r.All() {
			live[b.Name()] = true
		}
	}
	return live
}

// Series is a scrape: each counter series' value, keyed as
// "circuit.calls{name,outcome}" or "limiter.calls{kind,name,outcome}"
// (the exporter's names and labels, canonical).
type Series map[string]float64

// Key returns the key of a counter series of family with its label
// values, in the label order of the family's doc.
func Key(family string, labels ...string) string {
	return fmt.Sprint(family, labels)
}

// Report is what one scrape or collection showed: the counters of calls,
// and the names reported for circuits and bulkheads.
type Report struct {
	Series              Series
	Circuits, Bulkheads map[string]bool
}

// Run churns a World of seed watched by w for 10 rounds of 200 steps,
// reading the exporter (read) 5 times while each round runs and once at
// its end, and checks every read: no counter falls; and at each round's
// end, the names reported are exactly the live ones, none counted twice
// (no more successes than were made), a breaker watched alone reported
// exactly as it counts. It returns how many reads it made.
func Run(t testing.TB, seed uint64, w *watch.List, read func() Report) int {
	t.Helper()
	world := New(seed, w)
	reads := 0
	var last Series
	check := func() Report {
		r := read()
		for k, v := range r.Series {
			if was, ok := last[k]; ok && v < was {
				t.Errorf("seed %d, read %d: %s fell from %v to %v", seed, reads, k, was, v)
			}
		}
		last = r.Series
		reads++
		return r
	}
	for round := range 10 {
		var wg sync.WaitGroup
		wg.Go(func() {
			for range 200 {
				world.Step(w)
			}
		})
		for range 5 { // reads while the policies churn
			check()
		}
		wg.Wait()
		r := check()
		if want := world.LiveCircuits(); !sameNames(r.Circuits, want) {
			t.Errorf("seed %d, round %d: circuits reported %v, live %v", seed, round, r.Circuits, want)
		}
		if want := world.LiveBulkheads(); !sameNames(r.Bulkheads, want) {
			t.Errorf("seed %d, round %d: bulkheads reported %v, live %v", seed, round, r.Bulkheads, want)
		}
		for name := range r.Circuits {
			if got, most := r.Series[Key("circuit.calls", name, "success")], world.Succeeded(name); most > 0 && got > most {
				t.Errorf("seed %d: %s reports %v successes, more than the %v made: counted twice", seed, name, got, most)
			}
		}
		for _, b := range world.Solo() {
			if got, m := r.Series[Key("circuit.calls", b.Name(), "success")], b.Metrics(); got != float64(m.Successes) {
				t.Errorf("seed %d: %s reports %v successes, its breaker counted %d", seed, b.Name(), got, m.Successes)
			}
		}
		if t.Failed() {
			break
		}
	}
	return reads
}

// sameNames reports whether a and b hold the same names.
func sameNames(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
