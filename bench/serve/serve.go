// Package serve offers a server more requests than it can serve and
// measures what each kind of admission control in front of it makes of
// them. The server is an http.Handler with Workers that each serve one
// request at a time, in an exponentially distributed time of mean
// Service; a request waits for a worker as long as its client does, and
// once it has one it is served to the end, whether its client still waits
// or not (that work is wasted). Clients arrive as a Poisson process, give
// up after Timeout, and send their deadline and priority as our clients
// do (bwhttp.TimeoutHeader, bwhttp.PriorityHeader).
//
// Requests are handed to the handler in-process (ServeHTTP with a
// recorder), so that the same code runs on a simulated clock (inside a
// testing/synctest bubble: the numbers of docs/server.md) and in real
// time, scaled down. Everything reads the time through package time.
package serve

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/breakwater-go/breakwater/admission"
	"github.com/breakwater-go/breakwater/bwhttp"
	"github.com/breakwater-go/breakwater/internal/sim"
	"github.com/breakwater-go/breakwater/outcome"
)

// Scenario is the server and the load offered to it.
type Scenario struct {
	Seed     uint64
	Workers  int
	Service  time.Duration // mean service time
	Load     float64       // offered requests, a multiple of Capacity
	Duration time.Duration // how long requests arrive
	Warmup   time.Duration // left out of the figures: the limits learn
	Timeout  time.Duration // the clients'
	// Critical and Sheddable are the shares of requests of those
	// priorities; the rest are Default.
	Critical, Sheddable float64
	// The trigger, if any: from TriggerStart to TriggerEnd, the service
	// times stretch so that the capacity is TriggerCapacity of normal.
	TriggerStart, TriggerEnd time.Duration
	TriggerCapacity          float64
}

// Capacity is the requests a second the server serves.
func (s Scenario) Capacity() float64 { return float64(s.Workers) / s.Service.Seconds() }

// Base is the scenario of docs/server.md: a server of 10 workers taking
// 50 ms a request (200 a second), clients that give up after 1 s, 5 %
// critical and 30 % sheddable requests, a minute of load after 10 s of
// warm-up.
var Base = Scenario{Seed: 1, Workers: 10, Service: 50 * time.Millisecond, Load: 1, Duration: 70 * time.Second,
	Warmup: 10 * time.Second, Timeout: time.Second, Critical: 0.05, Sheddable: 0.3}

// Protection is what stands in front of the server: Wrap returns the
// handler the clients call, and the function that stops what it started
// (nil if nothing).
type Protection struct {
	Name string
	Wrap func(app http.Handler) (http.Handler, func())
}

// Result is what the clients saw after the warm-up.
type Result struct {
	Name, Client string // the protection's and the client's
	Load         float64
	// Offered counts the requests; Attempts their attempts, and
	// Amplification the attempts a request.
	Offered, Attempts int
	Amplification     float64
	// Goodput is the requests that succeeded (an attempt answered 200
	// within its client's timeout), a second, as a share of Capacity;
	// Success the share of requests that did.
	Goodput, Success float64
	// P50 and P99 are the latencies of the attempts the server admitted
	// and answered 200 (whether in time or not).
	P50, P99 time.Duration
	// Critical is the share of critical requests that succeeded.
	Critical float64
	// Shed is the share of attempts answered without service (429, 503).
	Shed float64
	// Recovery is how long after the trigger's end every second's requests
	// went on succeeding at least 95 % of the time, to the end; -1 if
	// they never did (package sim's measure).
	Recovery time.Duration
	// Wasted is the share of the workers' time spent on requests whose
	// client had given up before they were answered.
	Wasted float64
}

// Client is how clients make a request's attempts: Do runs attempt as
// often as its policies say. The zero Client makes one attempt.
type Client struct {
	Name string
	Do   func(ctx context.Context, attempt func(context.Context) error) error
}

// Shed is the error of an attempt the server shed, as bwhttp's Transport
// reports a 503 with Retry-After: the server is overloaded (a breaker
// counts it neither success nor failure, an adaptive limit and a throttle
// as a failure), and its retries wait the Retry-After.
type Shed struct{ After time.Duration }

func (e *Shed) Error() string { return "shed by the server" }

// Verdict says the server is overloaded.
func (e *Shed) Verdict() outcome.Verdict { return outcome.Overloaded }

// RetryAfter is how long the server asked the client to wait.
func (e *Shed) RetryAfter() time.Duration { return e.After }

// errLate is the error of an attempt answered after its client gave up, or
// failed by the server.
var errLate = errors.New("no answer in time")

// Run offers s to the server behind p, from clients that make their
// attempts through c, and returns what the clients saw.
func Run(s Scenario, p Protection, c Client) Result {
	workers := make(chan struct{}, s.Workers)
	var mu sync.Mutex
	var busy, wasted time.Duration
	start := time.Now()
	warm := start.Add(s.Warmup)
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case workers <- struct{}{}:
		case <-r.Context().Done(): // the client is gone before any work: none is wasted
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		d := service(r)
		if at := time.Since(start); at >= s.TriggerStart && at < s.TriggerEnd {
			d = time.Duration(float64(d) / s.TriggerCapacity)
		}
		time.Sleep(d)
		<-workers
		late := r.Context().Err() != nil
		if time.Now().After(warm) {
			mu.Lock()
			busy += d
			if late {
				wasted += d
			}
			mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	})
	h, stop := p.Wrap(app)
	if stop != nil {
		defer stop()
	}
	if c.Do == nil {
		c.Do = func(ctx context.Context, attempt func(context.Context) error) error { return attempt(ctx) }
	}

	rng := rand.New(rand.NewPCG(s.Seed, 1))
	rate := s.Load * s.Capacity()
	type answer struct {
		priority admission.Priority
		code     int
		latency  time.Duration
	}
	var answers []answer // of the attempts, after the warm-up
	// Requests that ended, and that succeeded, by the second they ended.
	good := make([]int, int((s.Duration+time.Minute)/time.Second)+1)
	ended := make([]int, len(good))
	var requests, succeeded, critical, criticalOK int
	var clients sync.WaitGroup
	for at := time.Duration(0); at < s.Duration; {
		at += time.Duration(rng.ExpFloat64() / rate * float64(time.Second))
		time.Sleep(time.Until(start.Add(at))) // on schedule: in real time, sleeps overshoot
		priority := admission.Default
		switch u := rng.Float64(); {
		case u < s.Critical:
			priority = admission.Critical
		case u < s.Critical+s.Sheddable:
			priority = admission.Sheddable
		}
		serviceTime := time.Duration(rng.ExpFloat64() * float64(s.Service))
		counted := at >= s.Warmup
		clients.Go(func() {
			attempt := func(ctx context.Context) error {
				ctx, cancel := context.WithTimeout(ctx, s.Timeout)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
				req.Header.Set(serviceHeader, strconv.FormatInt(int64(serviceTime), 10))
				req.Header.Set(bwhttp.PriorityHeader, priority.String())
				req.Header.Set("X-Failsafe-Priority", failsafePriority[priority]) // failsafe-go's clients' header
				if d, ok := ctx.Deadline(); ok {
					req.Header.Set(bwhttp.TimeoutHeader, strconv.FormatInt(time.Until(d).Milliseconds(), 10))
				}
				rec := httptest.NewRecorder()
				began := time.Now()
				h.ServeHTTP(rec, req)
				latency := time.Since(began)
				if counted {
					mu.Lock()
					answers = append(answers, answer{priority, rec.Code, latency})
					mu.Unlock()
				}
				switch {
				case rec.Code == http.StatusOK && latency <= s.Timeout:
					return nil
				case rec.Code == http.StatusTooManyRequests || rec.Code == http.StatusServiceUnavailable:
					after, _ := strconv.Atoi(rec.Header().Get("Retry-After"))
					return &Shed{After: time.Duration(after) * time.Second}
				}
				return errLate
			}
			err := c.Do(context.Background(), attempt)
			if !counted {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			requests++
			ended[min(int(time.Since(start)/time.Second), len(ended)-1)]++
			if priority == admission.Critical {
				critical++
			}
			if err == nil {
				succeeded++
				good[min(int(time.Since(start)/time.Second), len(good)-1)]++
				if priority == admission.Critical {
					criticalOK++
				}
			}
		})
	}
	clients.Wait()

	r := Result{Name: p.Name, Client: c.Name, Load: s.Load, Offered: requests, Attempts: len(answers)}
	var shed int
	var latencies []time.Duration
	for _, a := range answers {
		switch {
		case a.code == http.StatusOK:
			latencies = append(latencies, a.latency)
		case a.code == http.StatusTooManyRequests || a.code == http.StatusServiceUnavailable:
			shed++
		}
	}
	span := (s.Duration - s.Warmup).Seconds()
	r.Goodput = float64(succeeded) / span / s.Capacity()
	r.Success = float64(succeeded) / float64(max(requests, 1))
	r.Shed = float64(shed) / float64(max(len(answers), 1))
	r.Amplification = float64(len(answers)) / float64(max(requests, 1))
	if critical > 0 {
		r.Critical = float64(criticalOK) / float64(critical)
	}
	if busy > 0 {
		r.Wasted = float64(wasted) / float64(busy)
	}
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		r.P50, r.P99 = latencies[n/2], latencies[min(n*99/100, n-1)]
	}
	r.Recovery = -1
	if s.TriggerEnd > 0 {
		r.Recovery = sim.Recovery(ended, good, s.TriggerEnd, s.Duration)
	}
	return r
}

// failsafePriority is failsafe-go's priority (priority.VeryLow = 0 to
// VeryHigh = 4) for each of ours.
var failsafePriority = map[admission.Priority]string{admission.Sheddable: "0", admission.Default: "2", admission.Critical: "4"}

// serviceHeader carries a request's service time in nanoseconds, drawn
// with its arrival so that every protection faces the same requests.
const serviceHeader = "Service-Ns"

func service(r *http.Request) time.Duration {
	n, _ := strconv.ParseInt(r.Header.Get(serviceHeader), 10, 64)
	return time.Duration(n)
}
