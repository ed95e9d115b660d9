package bwredis_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
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

var chaosDuration = flag.Duration("chaos.duration", 12*time.Second, "how long TestChaosSoak runs")

var chaosCircuits = []string{"alpha", "beta", "gamma"}

// TestChaosSoak runs four processes (runs of this test binary), each with
// many goroutines calling shared breakers, while Redis is killed and
// restarted empty, or paused, at random. It checks that no call waits on
// Redis, nothing panics, every store reconnects and all agree on each
// circuit within a second of Redis answering again, and that while Redis
// keeps its data, no two processes probe a circuit at once. Run it longer
// with -chaos.duration.
func TestChaosSoak(t *testing.T) {
	if addr := os.Getenv("BWREDIS_CHAOS_ADDR"); addr != "" {
		chaosChild(addr)
		return
	}
	srv := startRedis(t)
	var probesMu sync.Mutex
	var probes []probe
	procs := startChildren(t, 4, "TestChaosSoak",
		func(i int) []string {
			return []string{"BWREDIS_CHAOS_ADDR=" + srv.addr(), "BWREDIS_CHAOS_ID=" + strconv.Itoa(i)}
		},
		func(i int, line string) bool {
			pr, ok := parseProbe(line, i)
			if ok {
				probesMu.Lock()
				probes = append(probes, pr)
				probesMu.Unlock()
			}
			return ok
		})
	send := func(cmd string) {
		for _, p := range procs {
			p.send(cmd)
		}
	}
	for _, p := range procs {
		if l := p.reply(); l != "ready" {
			t.Fatalf("child said %q", l)
		}
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var disruptions [][2]time.Time
	deadline := time.Now().Add(*chaosDuration)
	rounds := 0
	for time.Now().Before(deadline) {
		rounds++
		time.Sleep(time.Duration(200+rng.IntN(400)) * time.Millisecond) // traffic runs
		start := time.Now()
		switch rng.IntN(3) {
		case 0: // a crash: restarted with an empty data set
			srv.stop()
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			srv.start()
		case 1: // a hang
			srv.signal(syscall.SIGSTOP)
			time.Sleep(time.Duration(100+rng.IntN(700)) * time.Millisecond)
			srv.signal(syscall.SIGCONT)
		case 2: // no incident this round
		}
		back := time.Now() // Redis answers again (start waits for a PING)
		disruptions = append(disruptions, [2]time.Time{start, back})
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond) // traffic through the recovery
		send("quiet")
		for _, p := range procs {
			p.reply() // "quiet": no call is running now
		}
		time.Sleep(time.Until(back.Add(time.Second)) + 0) // within a second of Redis answering again
		send("report")
		var states []string
		for i, p := range procs {
			r := p.reply()
			if !strings.Contains(r, "connected=true") {
				t.Fatalf("round %d: process %d has not reconnected a second after Redis answered: %s", rounds, i, r)
			}
			states = append(states, strings.Fields(r)[2])
		}
		for _, s := range states[1:] {
			if s != states[0] {
				t.Fatalf("round %d: the processes disagree a second after Redis answered: %v", rounds, states)
			}
		}
		send("go")
	}
	send("exit")
	var worst time.Duration
	for i, p := range procs {
		r := p.reply()
		var lat int64
		if _, err := fmt.Sscanf(r, "done maxlat=%d", &lat); err != nil {
			t.Fatalf("process %d: %q", i, r)
		}
		worst = max(worst, time.Duration(lat))
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	t.Logf("%d rounds of chaos, %d probes; worst time a call spent in the breaker: %v", rounds, len(probes), worst)
	if worst > 250*time.Millisecond {
		t.Errorf("a call spent %v in the breaker: something waited on Redis", worst)
	}

	// Probes by two processes at once, while Redis kept its data: a
	// violation. Around a crash, Redis forgets the lease: excluded.
	stable := func(from, to time.Time) bool {
		for _, d := range disruptions {
			if d[0].Before(to) && d[1].Add(time.Second).After(from) {
				return false
			}
		}
		return true
	}
	sort.Slice(probes, func(i, j int) bool { return probes[i].start.Before(probes[j].start) })
	for i, a := range probes {
		for _, b := range probes[i+1:] {
			if b.start.After(a.end) {
				break
			}
			if a.name == b.name && a.proc != b.proc && a.connected && b.connected && stable(a.start, b.end) {
				t.Errorf("circuit %s: processes %d and %d probed at once (%v–%v, %v–%v)", a.name, a.proc, b.proc,
					a.start.Format("15:04:05.000"), a.end.Format("15:04:05.000"), b.start.Format("15:04:05.000"), b.end.Format("15:04:05.000"))
			}
		}
	}
}

type probe struct {
	name       string
	proc       int
	start, end time.Time
	connected  bool
}

func parseProbe(line string, proc int) (probe, bool) {
	var name string
	var start, end int64
	var connected bool
	if _, err := fmt.Sscanf(line, "probe %s %d %d %t", &name, &start, &end, &connected); err != nil {
		return probe{}, false
	}
	return probe{name: name, proc: proc, start: time.Unix(0, start), end: time.Unix(0, end), connected: connected}, true
}

// chaosChild is one process of the soak: traffic on the shared circuits,
// and answers to the parent's commands on stdin.
func chaosChild(addr string) {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true,
		DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	s, err := bwredis.New(bwredis.Config{Client: c, FlushInterval: 50 * time.Millisecond, Timeout: 100 * time.Millisecond,
		ProbeLease: time.Second, Logger: slog.New(slog.DiscardHandler)})
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
	onProbe := func(_ context.Context, e breaker.CallEvent) {
		if e.State == breaker.HalfOpen {
			end := time.Now()
			say("probe %s %d %d %t", e.Name, end.Add(-e.Duration).UnixNano(), end.UnixNano(), s.Metrics().Connected)
		}
	}
	reg, err := s.NewRegistry(breaker.Config{Trip: breaker.Consecutive(4), OpenDuration: 300 * time.Millisecond,
		Hooks: breaker.Hooks{OnSuccess: onProbe, OnFailure: onProbe, OnIgnore: onProbe}}, 0)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	for _, name := range chaosCircuits {
		reg.Get(name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	s.Flush(ctx)
	cancel()

	var (
		gate    sync.RWMutex // traffic holds it for reading; "quiet" takes it for writing
		stop    atomic.Bool
		maxLat  atomic.Int64
		workers sync.WaitGroup
	)
	for g := 0; g < 16; g++ {
		workers.Add(1)
		go func(seed uint64) {
			defer workers.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(os.Getpid())))
			for !stop.Load() {
				gate.RLock()
				b := reg.Get(chaosCircuits[rng.IntN(len(chaosCircuits))])
				failing := time.Now().UnixMilli()/700%2 == 0 // the dependency fails in bursts
				start := time.Now()
				p, err := b.Allow(context.Background())
				lat := time.Since(start)
				if err == nil {
					time.Sleep(time.Millisecond) // the dependency's own time
					var outcome error
					if failing && rng.IntN(3) > 0 {
						outcome = errDown
					}
					start = time.Now()
					p.Done(outcome)
					lat += time.Since(start)
				}
				for {
					old := maxLat.Load()
					if int64(lat) <= old || maxLat.CompareAndSwap(old, int64(lat)) {
						break
					}
				}
				gate.RUnlock()
				time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
			}
		}(uint64(g))
	}
	say("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "quiet":
			gate.Lock()
			say("quiet")
		case "go":
			gate.Unlock()
		case "report":
			var states []string
			for _, name := range chaosCircuits {
				st := reg.Get(name).State()
				if st == breaker.HalfOpen {
					st = breaker.Open // rejecting calls but for probes: the same as open for agreement
				}
				states = append(states, name+"="+st.String())
			}
			say("report connected=%t %s", s.Metrics().Connected, strings.Join(states, ","))
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
