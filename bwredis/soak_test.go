package bwredis_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwredis"
	"github.com/redis/go-redis/v9"
)

const soakCircuits = 200

func soakName(i int) string { return fmt.Sprintf("c%03d", i) }

// TestFleetSoak runs four processes (runs of this test binary) with 200
// shared circuits each and traffic on them, while Redis is paused for 3 s,
// killed and restarted empty, then filled until it evicts keys
// (maxmemory, allkeys-lru). It prints and checks: the slowest call (no call
// waits on Redis), trip propagation p50/p99, the flaps after the restart
// and under eviction (a process holding a circuit open that closes it
// because a record was lost: none), the time for all processes to agree
// after Redis answers again, and the divergence at the end (none).
func TestFleetSoak(t *testing.T) {
	if addr := os.Getenv("BWREDIS_SOAK_ADDR"); addr != "" {
		soakChild(addr)
		return
	}
	srv := startRedis(t)
	type change struct {
		proc      int
		name, to  string
		reason    string
		at        time.Time
		afterLoss bool
	}
	var (
		mu      sync.Mutex
		changes []change
		loss    atomic.Bool // a record loss is under way: closings now are flaps
	)
	procs := startChildren(t, 4, "TestFleetSoak", func(int) []string { return []string{"BWREDIS_SOAK_ADDR=" + srv.addr()} },
		func(i int, line string) bool {
			var name, to, reason string
			var at int64
			if _, err := fmt.Sscanf(line, "change %s %s %s %d", &name, &to, &reason, &at); err != nil {
				return false
			}
			mu.Lock()
			changes = append(changes, change{proc: i, name: name, to: to, reason: reason, at: time.Unix(0, at), afterLoss: loss.Load()})
			mu.Unlock()
			return true
		})
	ask := func(cmd string) []string { return ask(procs, cmd) }
	ask("ready?")
	// agree polls until every process is connected and all hold the same
	// state for every circuit, and returns how long that took.
	agree := func(limit time.Duration) (time.Duration, int) {
		start := time.Now()
		for {
			reports := ask("report")
			diverging := 0
			connected := true
			for _, r := range reports {
				f := strings.Fields(r)
				if len(f) < 3 || f[1] != "connected=true" {
					connected = false
				}
			}
			if connected {
				states := make([]string, len(reports))
				for i, r := range reports {
					states[i] = strings.Fields(r)[2]
				}
				for c := range soakCircuits {
					for _, s := range states[1:] {
						if s[c] != states[0][c] {
							diverging++
							break
						}
					}
				}
				if diverging == 0 {
					return time.Since(start), 0
				}
			}
			if time.Since(start) > limit {
				return time.Since(start), max(diverging, 1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Trip propagation: process 0 trips 40 circuits, one at a time; each
	// latency is the time until another process's breaker opened.
	rng := rand.New(rand.NewPCG(1, 2))
	tripped := rng.Perm(soakCircuits)[:40]
	var lat []time.Duration
	for _, c := range tripped {
		name := soakName(c)
		procs[0].send("trip " + name)
		var at int64
		fmt.Sscanf(procs[0].reply(), "tripped %d", &at)
		deadline := time.Now().Add(5 * time.Second)
		for seen := 0; seen < 3 && time.Now().Before(deadline); {
			seen = 0
			mu.Lock()
			for _, ch := range changes {
				if ch.name == name && ch.proc != 0 && ch.to == "open" && !ch.at.Before(time.Unix(0, at)) {
					seen++
					lat = append(lat, ch.at.Sub(time.Unix(0, at)))
				}
			}
			if seen < 3 {
				lat = lat[:len(lat)-seen]
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) < 3*len(tripped) {
		t.Fatalf("only %d of %d trips reached the other processes", len(lat), 3*len(tripped))
	}
	t.Logf("trip propagation over %d process pairs: p50 %v, p90 %v, p99 %v, max %v",
		len(lat), lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)*99/100], lat[len(lat)-1])

	flaps := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, ch := range changes {
			if ch.afterLoss && ch.to == "closed" {
				n++
			}
		}
		return n
	}
	admin := srv.client(t)

	// Redis paused for 3 s.
	srv.signal(syscall.SIGSTOP)
	time.Sleep(3 * time.Second)
	srv.signal(syscall.SIGCONT)
	pauseAgree, pauseDiv := agree(10 * time.Second)
	t.Logf("paused 3 s: all agree %v after Redis answers again", pauseAgree)

	// Killed and restarted empty: every record is lost.
	loss.Store(true)
	srv.stop()
	srv.start()
	restartAgree, restartDiv := agree(10 * time.Second)
	restartFlaps := flaps()
	t.Logf("restarted empty: all agree %v after Redis answers again; %d flaps", restartAgree, restartFlaps)

	// The records come back: every tripped circuit's, written again by
	// the processes that hold it open, at their next read of it.
	rebuilt := time.Now()
	for len(stateKeys(t, admin)) < len(tripped) {
		if time.Since(rebuilt) > 10*time.Second {
			t.Fatalf("%d of %d open circuits' records written again after the restart", len(stateKeys(t, admin)), len(tripped))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the %d open circuits' records written again %v after the restart", len(tripped), time.Since(rebuilt)+restartAgree)

	// Filled until it evicts (maxmemory, allkeys-lru).
	before := len(stateKeys(t, admin))
	if err := evictSome(admin); err != nil {
		t.Fatal(err)
	}
	evicted := before - len(stateKeys(t, admin))
	evictAgree, evictDiv := agree(10 * time.Second)
	time.Sleep(500 * time.Millisecond) // the reads of the next rounds, for late flaps
	evictFlaps := flaps() - restartFlaps
	refilled := time.Now()
	for len(stateKeys(t, admin)) < len(tripped) && time.Since(refilled) < 10*time.Second {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("eviction (%d of %d state records lost): all agree %v after, records written again within %v; %d flaps",
		evicted, before, evictAgree, time.Since(refilled), evictFlaps)

	_, divergence := agree(2 * time.Second)
	reports := ask("report")
	open := 0
	for _, c := range tripped {
		if strings.Fields(reports[0])[2][c] == 'o' {
			open++
		}
	}
	var slowest time.Duration
	for i, r := range ask("exit") {
		var ns int64
		if _, err := fmt.Sscanf(r, "done maxlat=%d", &ns); err != nil {
			t.Fatalf("process %d: %q", i, r)
		}
		slowest = max(slowest, time.Duration(ns))
	}
	t.Logf("slowest call through the breakers: %v; divergence at the end: %d circuits; %d of %d tripped circuits open", slowest, divergence, open, len(tripped))

	switch {
	case slowest > 250*time.Millisecond: // as the chaos soak: a loaded CI machine's scheduler, not Redis
		t.Errorf("a call took %v: something waited on Redis", slowest)
	case restartFlaps+evictFlaps > 0:
		t.Errorf("%d processes closed an open circuit because its record was lost", restartFlaps+evictFlaps)
	case pauseDiv+restartDiv+evictDiv+divergence > 0:
		t.Errorf("processes disagreed: after the pause %d, the restart %d, the eviction %d, at the end %d circuits", pauseDiv, restartDiv, evictDiv, divergence)
	case max(pauseAgree, restartAgree, evictAgree) > 2*time.Second:
		t.Errorf("agreement took %v, %v, %v after Redis answered (goal 1 s)", pauseAgree, restartAgree, evictAgree)
	case open != len(tripped):
		t.Errorf("%d of the %d tripped circuits are open at the end", open, len(tripped))
	}
	// Propagation is printed, not checked: on a machine running the whole
	// suite beside the soak it measures the scheduler (p99 9-12 ms alone,
	// 330 ms under the full suite with the race detector).

}

// stateKeys lists the circuits' state records.
func stateKeys(t *testing.T, c *redis.Client) []string {
	keys, err := c.Keys(context.Background(), "breakwater:*:state").Result()
	if err != nil {
		t.Fatal(err)
	}
	var recorded []string
	for _, k := range keys {
		if st, _ := c.HGet(context.Background(), k, "state").Result(); st != "" {
			recorded = append(recorded, k)
		}
	}
	return recorded
}

// evictSome fills Redis under a memory limit with an LRU policy until it
// has evicted a quarter of the circuits' records.
func evictSome(c *redis.Client) error {
	start, err := c.Keys(context.Background(), "breakwater:*:state").Result()
	if err != nil {
		return err
	}
	return evictUntil(c, "allkeys-lru", func() bool {
		now, err := c.Keys(context.Background(), "breakwater:*:state").Result()
		return err == nil && len(now) < len(start)*3/4
	})
}

// soakChild is one process of the soak: 200 shared circuits, traffic on
// them, and answers to the parent's commands on stdin.
func soakChild(addr string) {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true,
		DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	s, err := bwredis.New(bwredis.Config{Client: c, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		fmt.Printf(format+"\n", args...)
		out.Unlock()
	}
	reg, err := s.NewRegistry(breaker.Config{
		Trip: breaker.Consecutive(1000), OpenDuration: 5 * time.Minute, // states stay as tripped through the soak
		Hooks: breaker.Hooks{OnStateChange: func(e breaker.StateChange) {
			say("change %s %s %s %d", e.Name, e.To, e.Reason, time.Now().UnixNano())
		}}}, 0)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	for i := range soakCircuits {
		reg.Get(soakName(i))
	}
	var stop atomic.Bool
	var maxLat atomic.Int64
	var workers sync.WaitGroup
	for g := range 4 {
		workers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), uint64(os.Getpid())))
			for !stop.Load() {
				b := reg.Get(soakName(rng.IntN(soakCircuits)))
				start := time.Now()
				if p, err := b.Allow(context.Background()); err == nil {
					p.Done(nil)
				}
				lat := time.Since(start)
				for old := maxLat.Load(); int64(lat) > old && !maxLat.CompareAndSwap(old, int64(lat)); old = maxLat.Load() {
				}
				time.Sleep(time.Duration(rng.IntN(1000)) * time.Microsecond)
			}
		})
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch f[0] {
		case "ready?":
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.Flush(ctx)
			cancel()
			say("ready")
		case "trip":
			at := time.Now() // before: another process may see the trip before Trip returns here
			reg.Get(f[1]).Trip()
			say("tripped %d", at.UnixNano())
		case "report":
			var states strings.Builder
			for i := range soakCircuits {
				switch reg.Get(soakName(i)).State() {
				case breaker.Closed:
					states.WriteByte('c')
				default:
					states.WriteByte('o') // open, or half-open: turning calls away
				}
			}
			say("report connected=%t %s", s.Metrics().Connected, states.String())
		case "exit":
			stop.Store(true)
			workers.Wait()
			s.Close()
			c.Close()
			say("done maxlat=%d", maxLat.Load())
			os.Exit(0)
		}
	}
	os.Exit(4)
}
