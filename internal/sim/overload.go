package sim

import (
	"container/heap"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
)

// Overload is a dependency with finite capacity and a queue, called by
// clients that give up on slow attempts: the setting of metastable
// failures (Huang et al., OSDI '22). The server has Workers that each
// serve one attempt at a time, in an exponentially distributed time of
// mean ServiceTime, taking attempts from an unbounded first-come queue.
// It serves every attempt it was sent, including those whose client gave
// up after Timeout: that work is wasted. During the trigger its service
// times stretch so that its capacity is TriggerCapacity of normal.
type Overload struct {
	Seed        uint64
	Duration    time.Duration // how long requests arrive
	Rate        float64       // requests a second
	Workers     int
	ServiceTime time.Duration
	Timeout     time.Duration // per attempt, on the client
	// The trigger: capacity falls to TriggerCapacity (a share of normal)
	// from TriggerStart to TriggerEnd.
	TriggerStart, TriggerEnd time.Duration
	TriggerCapacity          float64
	// ErrorRate is the share of served attempts that fail anyway.
	ErrorRate float64
	// QueueLimit bounds the server's queue: an attempt that finds it full
	// is refused at once (a 503). Zero means unbounded.
	QueueLimit int
}

// Capacity is the attempts a second the server serves outside the trigger.
func (o Overload) Capacity() float64 { return float64(o.Workers) / o.ServiceTime.Seconds() }

// CapacityHalves is 150 requests a second for three minutes against a
// server of capacity 200 a second (20 workers, 100 ms each) that serves
// half of that from 0:30 to 1:30; clients give up after 1 s.
var CapacityHalves = Overload{
	Seed: 1, Duration: 3 * time.Minute, Rate: 150, Workers: 20, ServiceTime: 100 * time.Millisecond,
	Timeout: time.Second, TriggerStart: 30 * time.Second, TriggerEnd: 90 * time.Second, TriggerCapacity: 0.5,
	ErrorRate: 0.01,
}

// OverloadResult is what a configuration did in an Overload scenario.
type OverloadResult struct {
	Name                     string
	Requests, Succeeded      int
	Shed                     int // requests a policy turned away locally (counted in neither)
	Attempts                 int // attempts sent to the server
	Amplification            float64
	GoodputDuring            float64 // successes a second during the trigger ÷ the trigger's capacity
	GoodputAfter             float64 // successes a second after the trigger ÷ min(Rate, Capacity)
	Wasted                   float64 // share of the server's busy time spent on attempts given up on
	P50, P99                 time.Duration
	Recovery                 time.Duration // trigger end → the success rate holds ≥ 95% to the end; -1: never
	Detect                   time.Duration // trigger start → the breaker's first trip, or the first second the policies turn away 10 points more than before it; -1: never
	ShedBefore               float64       // share of attempts turned away in the 20 s before the trigger
	Trips                    int           // the breaker's transitions into open
	ShedShare                float64       // share of the attempts asked for that the policies turned away
	Load, Goodput, Latency99 []float64     // per second: attempts sent, successes, p99 of successes (s)
}

// SuccessRate is the share of requests that succeeded.
func (r OverloadResult) SuccessRate() float64 { return float64(r.Succeeded) / float64(r.Requests) }

type event struct {
	at   time.Duration
	kind int // what happens, below
	seq  int // ties broken by order of scheduling
	job  *job
}

const (
	evArrive   = iota // a request's attempt starts
	evComplete        // the server finishes a job
	evTimeout         // the client gives up on a job
)

// job is one attempt of one request.
type job struct {
	req      int
	n        int           // attempt number, from 1
	prev     time.Duration // the delay before it
	arrived  time.Duration // the request's arrival
	sent     time.Duration
	started  time.Duration // when a worker took it
	resolved bool          // the client has its outcome
	permits  permits
}

type permits struct {
	breaker  outcome.Permit
	adaptive outcome.Permit
	throttle outcome.Permit
}

func (e event) when() (time.Duration, int) { return e.at, e.seq }

var (
	errTimeout = errors.New("client timeout")
	errServer  = errors.New("server error")
	errFull    = errors.New("server queue full")
)

// RunOverload plays scenario o through policy p: its retry policy and
// budget, breaker, throttle and adaptive limit, the real ones on a fake
// clock set to each event's time. Attempts pass the throttle, then the
// breaker, then the adaptive limit; a request one of them turns away is
// shed (rejections are not retried).
func RunOverload(o Overload, p Policy) (OverloadResult, error) {
	rng := rand.New(rand.NewPCG(o.Seed, 0x0e7))
	clk := clocktest.NewFake(time.Time{})
	origin := clk.Now()
	firstTrip := time.Duration(-1)
	trips := 0
	onTrip := func() {
		trips++
		if now := clk.Now().Sub(origin); firstTrip < 0 && now >= o.TriggerStart {
			firstTrip = now
		}
	}
	pol, err := build(p, clk, rng, onTrip)
	if err != nil {
		return OverloadResult{}, err
	}
	seconds := int(math.Ceil((o.Duration + time.Minute).Seconds()))
	res := OverloadResult{Name: p.Name, Recovery: -1, Detect: -1,
		Load: make([]float64, seconds), Goodput: make([]float64, seconds), Latency99: make([]float64, seconds)}
	ended, endedOK := make([]int, seconds), make([]int, seconds)
	latencies := make([][]time.Duration, seconds)
	var all []time.Duration
	second := func(at time.Duration) int { return min(int(at/time.Second), seconds-1) }

	q := &timeline[event]{}
	seq := 0
	schedule := func(at time.Duration, kind int, j *job) {
		seq++
		heap.Push(q, event{at: at, kind: kind, seq: seq, job: j})
	}
	for t, id := time.Duration(0), 0; ; id++ {
		t += time.Duration(rng.ExpFloat64() / o.Rate * float64(time.Second))
		if t >= o.Duration {
			break
		}
		schedule(t, evArrive, &job{req: id, n: 1, arrived: t})
		res.Requests++
	}

	var waiting []*job // the server's queue
	busy := 0
	var busyTime, wastedTime time.Duration
	serve := func(now time.Duration) {
		for busy < o.Workers && len(waiting) > 0 {
			j := waiting[0]
			waiting = waiting[1:]
			busy++
			j.started = now
			d := time.Duration(rng.ExpFloat64() * float64(o.ServiceTime))
			if now >= o.TriggerStart && now < o.TriggerEnd {
				d = time.Duration(float64(d) / o.TriggerCapacity)
			}
			schedule(now+d, evComplete, j)
		}
	}
	end := func(now time.Duration, j *job, ok bool) {
		s := second(now)
		ended[s]++
		if ok {
			endedOK[s]++
			res.Succeeded++
			res.Goodput[s]++
			l := now - j.arrived
			latencies[s] = append(latencies[s], l)
			all = append(all, l)
		}
	}
	asked, shed := make([]int, seconds), make([]int, seconds) // attempts asked for and turned away, by second
	// resolve gives the client an attempt's outcome: the policies hear of
	// it, and the request ends or is retried.
	inFlight, retriesInFlight := 0, 0 // attempts sent and not resolved; those of them that are retries
	resolve := func(now time.Duration, j *job, err error) {
		j.resolved = true
		inFlight--
		if j.n > 1 {
			retriesInFlight--
		}
		pol.done(j.permits, err)
		if err == nil {
			end(now, j, true)
			return
		}
		if d, ok := pol.next(j.n, j.prev, now, inFlight, retriesInFlight); ok {
			schedule(now+d, evArrive, &job{req: j.req, n: j.n + 1, prev: d, arrived: j.arrived})
			return
		}
		end(now, j, false)
	}

	for q.Len() > 0 {
		e := heap.Pop(q).(event)
		now, j := e.at, e.job
		clk.Set(origin.Add(now)) // fires the policies' timers due by then
		switch e.kind {
		case evArrive:
			asked[second(now)]++
			ps, ok := pol.admit()
			if !ok {
				res.Shed++
				shed[second(now)]++
				end(now, j, false)
				continue
			}
			j.permits, j.sent = ps, now
			res.Attempts++
			inFlight++
			if j.n > 1 {
				retriesInFlight++
			} else if pol.anchor != nil {
				pol.anchor.request(now)
			}
			res.Load[second(now)]++
			if o.QueueLimit > 0 && len(waiting) >= o.QueueLimit {
				resolve(now, j, errFull)
				continue
			}
			waiting = append(waiting, j)
			schedule(now+o.Timeout, evTimeout, j)
			serve(now)
		case evComplete:
			busy--
			busyTime += now - j.started
			if j.resolved {
				wastedTime += now - j.started
			} else {
				var err error
				if rng.Float64() < o.ErrorRate {
					err = errServer
				}
				resolve(now, j, err)
			}
			serve(now)
		case evTimeout:
			if !j.resolved {
				resolve(now, j, errTimeout)
			}
		}
	}

	res.Amplification = float64(res.Attempts) / float64(res.Requests)
	if busyTime > 0 {
		res.Wasted = float64(wastedTime) / float64(busyTime)
	}
	during := (o.TriggerEnd - o.TriggerStart).Seconds()
	res.GoodputDuring = sum(res.Goodput, o.TriggerStart, o.TriggerEnd) / during / (o.Capacity() * o.TriggerCapacity)
	after := (o.Duration - o.TriggerEnd).Seconds()
	res.GoodputAfter = sum(res.Goodput, o.TriggerEnd, o.Duration) / after / min(o.Rate, o.Capacity())
	res.P50, res.P99 = quantile(all, 0.5), quantile(all, 0.99)
	for s := range latencies {
		res.Latency99[s] = quantile(latencies[s], 0.99).Seconds()
	}
	var askedBefore, shedBefore int
	for s := max(int(o.TriggerStart/time.Second)-20, 0); s < int(o.TriggerStart/time.Second); s++ {
		askedBefore += asked[s]
		shedBefore += shed[s]
	}
	if askedBefore > 0 {
		res.ShedBefore = float64(shedBefore) / float64(askedBefore)
	}
	for s := int(o.TriggerStart / time.Second); s < len(asked); s++ {
		if asked[s] > 0 && float64(shed[s]) >= (res.ShedBefore+0.1)*float64(asked[s]) {
			res.Detect = time.Duration(s)*time.Second - o.TriggerStart
			break
		}
	}
	if firstTrip >= 0 && (res.Detect < 0 || firstTrip-o.TriggerStart < res.Detect) {
		res.Detect = firstTrip - o.TriggerStart
	}
	res.Trips = trips
	var askedAll int
	for s := range asked {
		askedAll += asked[s]
	}
	if askedAll > 0 {
		res.ShedShare = float64(res.Shed) / float64(askedAll)
	}
	res.Recovery = Recovery(ended, endedOK, o.TriggerEnd, o.Duration)
	return res, nil
}

// Recovery is how long after triggerEnd every second's requests went on
// succeeding at least 95 % of the time until duration: ended[s] and ok[s]
// count the requests that ended in second s, and those that succeeded. It
// is -1 if the last second still fell short.
func Recovery(ended, ok []int, triggerEnd, duration time.Duration) time.Duration {
	recovery := time.Duration(-1)
	last := int(duration / time.Second)
	for s := last - 1; s >= int(triggerEnd/time.Second); s-- {
		if ended[s] == 0 || float64(ok[s]) < 0.95*float64(ended[s]) {
			if s < last-1 {
				recovery = time.Duration(s+1)*time.Second - triggerEnd
			}
			break
		}
		recovery = time.Duration(s)*time.Second - triggerEnd
	}
	return recovery
}

func sum(v []float64, from, to time.Duration) float64 {
	total := 0.0
	for s := int(from / time.Second); s < int(to/time.Second) && s < len(v); s++ {
		total += v[s]
	}
	return total
}

func quantile(v []time.Duration, q float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// policies are a configuration's real policies, asked by hand on the
// simulated clock.
type policies struct {
	retry    *retry.Policy
	budget   *retry.Budget
	attempts int
	breaker  *breaker.Breaker
	throttle *throttle.Throttle
	adaptive *adaptive.Limiter
	anchor   Anchor
}

func build(p Policy, clk *clocktest.Fake, rng *rand.Rand, onTrip func()) (*policies, error) {
	pol := &policies{attempts: 1}
	if p.Anchor != nil {
		pol.anchor = p.Anchor.fresh()
	}
	var err error
	if p.Retry != nil {
		cfg := *p.Retry
		cfg.Clock, cfg.Rand, cfg.NoBudget = clk, rng.Float64, !p.Budget
		if cfg.Budget, err = p.budget(clk); err != nil {
			return nil, err
		}
		if pol.retry, err = retry.New(cfg); err != nil {
			return nil, err
		}
		pol.budget = pol.retry.Budget()
		pol.attempts = cmp(cfg.MaxAttempts, 4) // 4: retry's default
	}
	if p.Breaker != nil {
		cfg := *p.Breaker
		cfg.Clock = clk
		cfg.Hooks.OnStateChange = func(c breaker.StateChange) {
			if c.To == breaker.Open {
				onTrip()
			}
		}
		if pol.breaker, err = breaker.New(cfg); err != nil {
			return nil, err
		}
	}
	if p.Throttle != nil {
		cfg := *p.Throttle
		cfg.Clock, cfg.Rand = clk, rng.Float64
		if pol.throttle, err = throttle.New(cfg); err != nil {
			return nil, err
		}
	}
	if p.Adaptive != nil {
		cfg := *p.Adaptive
		cfg.Clock = clk
		if pol.adaptive, err = adaptive.New(cfg); err != nil {
			return nil, err
		}
	}
	return pol, nil
}

func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// admit asks the throttle, the breaker and the adaptive limit for an
// attempt, giving back what was taken when a later one refuses.
func (pol *policies) admit() (permits, bool) {
	ctx := context.Background()
	var ps permits
	if pol.throttle != nil {
		var err error
		if ps.throttle, err = pol.throttle.Allow(ctx); err != nil {
			return ps, false
		}
	}
	if pol.breaker != nil {
		var err error
		if ps.breaker, err = pol.breaker.Allow(ctx); err != nil {
			pol.undo(ps)
			return ps, false
		}
	}
	if pol.adaptive != nil {
		var err error
		if ps.adaptive, err = pol.adaptive.Allow(ctx); err != nil {
			ps.breaker.Release()
			pol.undo(ps)
			return ps, false
		}
	}
	return ps, true
}

// undo gives the throttle back an admitted attempt turned away inside it.
func (pol *policies) undo(ps permits) { ps.throttle.Release() }

// done reports an attempt's outcome to the policies that admitted it.
func (pol *policies) done(ps permits, err error) {
	ps.adaptive.Done(err)
	ps.breaker.Done(err)
	ps.throttle.Done(err)
	if pol.budget != nil {
		if err == nil {
			pol.budget.RecordSuccess()
		} else {
			pol.budget.RecordFailure()
		}
	}
}

// next returns the delay before attempt n+1, if there is to be one: the
// retry policy's, when its budget (or the anchor's) allows a retry now,
// with inFlight attempts in flight, retries of them.
func (pol *policies) next(n int, prev, now time.Duration, inFlight, retries int) (time.Duration, bool) {
	if pol.retry == nil || n >= pol.attempts || (pol.budget != nil && !pol.budget.AllowRetry()) {
		return 0, false
	}
	if pol.anchor != nil && !pol.anchor.allowRetry(now, inFlight, retries) {
		return 0, false
	}
	return pol.retry.Delay(n, prev), true
}
