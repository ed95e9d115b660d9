// Package live plays an Overload scenario of package sim in compressed
// real time, so that libraries that cannot run on a simulated clock
// (sony/gobreaker, failsafe-go) face the same server as Breakwater. Every
// duration of the scenario and of the configurations is divided by the
// same scale; the server is goroutines that sleep their service times,
// and the clients one goroutine per request. Unlike the simulator, the
// server drops what is still queued once every request has ended, rather
// than serving it to no one.
//
// Real sleeps overshoot by tens of microseconds, the scheduler adds its
// own noise, and two runs differ: the figures are for comparing libraries
// run side by side on one machine, not for reading to the percent.
package live

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater/internal/sim"
)

// Client is one library's configuration: Do runs a request's attempts
// through it, and Shed recognises its own rejections.
type Client struct {
	Name string
	Do   func(ctx context.Context, attempt func(context.Context) error) error
	Shed func(err error) bool
}

// Result is what a client did, in the scenario's time (not the scaled).
type Result struct {
	Name                string
	Requests, Succeeded int
	Shed                int
	Attempts            int
	Amplification       float64
	GoodputAfter        float64 // successes a second after the trigger ÷ min(Rate, Capacity)
	Wasted              float64
	Recovery, Detect    time.Duration // as in sim.OverloadResult; -1: never
	Load, Goodput       []float64     // per second of scenario time
}

// SuccessRate is the share of requests that succeeded.
func (r Result) SuccessRate() float64 { return float64(r.Succeeded) / float64(r.Requests) }

var (
	errTimeout = errors.New("attempt timed out")
	errServer  = errors.New("server error")
)

type job struct {
	done      chan error // buffered: the server never blocks on a client gone
	abandoned atomic.Bool
}

// Run plays o scaled down by scale (40: a minute in 1.5 seconds)
// through c.
func Run(o sim.Overload, scale float64, c Client) Result {
	scaled := func(d time.Duration) time.Duration { return time.Duration(float64(d) / scale) }
	seconds := int((o.Duration+time.Minute)/time.Second) + 1
	var load, goodput, ended, endedOK, shed, asked = counters(seconds), counters(seconds), counters(seconds), counters(seconds), counters(seconds), counters(seconds)
	start := time.Now()
	second := func() int { // the scenario's second now
		return min(int(float64(time.Since(start))*scale/float64(time.Second)), seconds-1)
	}

	queue := make(chan *job, 1<<20)
	var busy, wasted atomic.Int64
	var stopping atomic.Bool // every request has ended: what is left in the queue is dropped
	var workers sync.WaitGroup
	for w := range o.Workers {
		rng := rand.New(rand.NewPCG(o.Seed, uint64(w)))
		workers.Go(func() {
			for j := range queue {
				if stopping.Load() {
					continue
				}
				d := time.Duration(rng.ExpFloat64() * float64(scaled(o.ServiceTime)))
				if now := time.Duration(float64(time.Since(start)) * scale); now >= o.TriggerStart && now < o.TriggerEnd {
					d = time.Duration(float64(d) / o.TriggerCapacity)
				}
				began := time.Now()
				time.Sleep(d)
				took := time.Since(began)
				busy.Add(int64(took))
				if j.abandoned.Load() {
					wasted.Add(int64(took))
				}
				var err error
				if rng.Float64() < o.ErrorRate {
					err = errServer
				}
				j.done <- err
			}
		})
	}

	var attempts atomic.Int64
	attempt := func(ctx context.Context) error {
		attempts.Add(1)
		load.add(second())
		ctx, cancel := context.WithTimeout(ctx, scaled(o.Timeout))
		defer cancel()
		j := &job{done: make(chan error, 1)}
		queue <- j
		select {
		case err := <-j.done:
			return err
		case <-ctx.Done():
			j.abandoned.Store(true)
			return errTimeout
		}
	}

	var requests, succeeded, rejected atomic.Int64
	var clients sync.WaitGroup
	rng := rand.New(rand.NewPCG(o.Seed, 0x11fe))
	for at := time.Duration(0); ; {
		at += time.Duration(rng.ExpFloat64() / (o.Rate * scale) * float64(time.Second))
		if at >= scaled(o.Duration) {
			break
		}
		if ahead := at - time.Since(start); ahead > time.Millisecond {
			time.Sleep(ahead)
		}
		requests.Add(1)
		clients.Go(func() {
			s := second()
			asked.add(s)
			err := c.Do(context.Background(), attempt)
			e := second()
			ended.add(e)
			switch {
			case err == nil:
				succeeded.Add(1)
				goodput.add(e)
				endedOK.add(e)
			case c.Shed != nil && c.Shed(err):
				rejected.Add(1)
				shed.add(s)
			}
		})
	}
	clients.Wait()
	stopping.Store(true)
	close(queue)
	workers.Wait()

	r := Result{Name: c.Name, Requests: int(requests.Load()), Succeeded: int(succeeded.Load()), Shed: int(rejected.Load()),
		Attempts: int(attempts.Load()), Recovery: -1, Detect: -1, Load: load.floats(), Goodput: goodput.floats()}
	r.Amplification = float64(r.Attempts) / float64(r.Requests)
	if b := busy.Load(); b > 0 {
		r.Wasted = float64(wasted.Load()) / float64(b)
	}
	after := (o.Duration - o.TriggerEnd).Seconds()
	total := 0.0
	for s := int(o.TriggerEnd / time.Second); s < int(o.Duration/time.Second); s++ {
		total += r.Goodput[s]
	}
	r.GoodputAfter = total / after / min(o.Rate, o.Capacity())
	r.Recovery = recovery(o, ended.ints(), endedOK.ints())
	for s := int(o.TriggerStart / time.Second); s < int(o.Duration/time.Second); s++ {
		if a := asked.get(s); a > 0 && float64(shed.get(s)) >= 0.1*float64(a) {
			r.Detect = time.Duration(s)*time.Second - o.TriggerStart
			break
		}
	}
	return r
}

// recovery is the time from the trigger's end until the success rate,
// over spans of five seconds, holds at 95 % or more to the end; -1 if it
// never does. The simulator judges each second: in real time one
// scheduler hiccup can spoil a second.
func recovery(o sim.Overload, ended, ok []int) time.Duration {
	last := int(o.Duration / time.Second)
	rec := time.Duration(-1)
	for s := last - 1; s >= int(o.TriggerEnd/time.Second); s-- {
		var e, k int
		for i := s; i < min(s+5, last); i++ {
			e, k = e+ended[i], k+ok[i]
		}
		if e == 0 || float64(k) < 0.95*float64(e) {
			if s < last-1 {
				rec = time.Duration(s+1)*time.Second - o.TriggerEnd
			}
			break
		}
		rec = time.Duration(s)*time.Second - o.TriggerEnd
	}
	return rec
}

type perSecond []atomic.Int64

func counters(n int) perSecond    { return make(perSecond, n) }
func (p perSecond) add(s int)     { p[s].Add(1) }
func (p perSecond) get(s int) int { return int(p[s].Load()) }
func (p perSecond) ints() []int {
	out := make([]int, len(p))
	for i := range p {
		out[i] = p.get(i)
	}
	return out
}
func (p perSecond) floats() []float64 {
	out := make([]float64, len(p))
	for i := range p {
		out[i] = float64(p.get(i))
	}
	return out
}
