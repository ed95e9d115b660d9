package bench

import (
	"context"
	"flag"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/breakwater-go/breakwater/admission"
	"github.com/breakwater-go/breakwater/bench/serve"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/bwhttp"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
)

var writeServer = flag.Bool("server.write", false, "run every protection and write docs/server.md and docs/server.svg")

// protections are what TestServerOverload puts in front of the server.
func protections(s serve.Scenario) []serve.Protection {
	return []serve.Protection{
		{Name: "breakwater admission", Wrap: func(app http.Handler) (http.Handler, func()) {
			ac, err := admission.New(admission.Config{Name: "server"})
			if err != nil {
				panic(err)
			}
			h, err := bwhttp.NewHandler(app, bwhttp.ServerConfig{Admission: ac})
			if err != nil {
				panic(err)
			}
			return h, nil
		}},
		{Name: "none", Wrap: func(app http.Handler) (http.Handler, func()) { return app, nil }},
		{Name: "bulkhead (workers, no queue)", Wrap: func(app http.Handler) (http.Handler, func()) {
			b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: s.Workers})
			if err != nil {
				panic(err)
			}
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p, err := b.Allow(r.Context())
				if err != nil {
					http.Error(w, err.Error(), http.StatusServiceUnavailable)
					return
				}
				defer p.Done(nil)
				app.ServeHTTP(w, r)
			}), nil
		}},
		{Name: "failsafe-go adaptive limiter", Wrap: func(app http.Handler) (http.Handler, func()) {
			return failsafehttp.NewHandler(app, adaptivelimiter.NewWithDefaults[*http.Response]()), nil
		}},
		{Name: "failsafe-go adaptive limiter, queueing", Wrap: func(app http.Handler) (http.Handler, func()) {
			l := adaptivelimiter.NewBuilder[*http.Response]().WithQueueing(2, 3).WithMaxWaitTime(s.Timeout).Build()
			return failsafehttp.NewHandler(app, l), nil
		}},
		// failsafe-go's priorities, as its docs set them up: a prioritizer
		// calibrated every second, levels from the priority header. Its
		// NewHandler runs the policies without the request's context, where
		// NewHandlerWithLevel puts the level, so the executor is given the
		// request's context here.
		{Name: "failsafe-go adaptive limiter, prioritized", Wrap: func(app http.Handler) (http.Handler, func()) {
			pz := adaptivelimiter.NewPrioritizer()
			stop := pz.ScheduleCalibrations(context.Background(), time.Second)
			l := adaptivelimiter.NewBuilder[*http.Response]().WithMaxWaitTime(s.Timeout).BuildPrioritized(pz)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				failsafehttp.NewHandlerWithExecutor(app, failsafe.With[*http.Response](l).WithContext(r.Context())).ServeHTTP(w, r)
			})
			return failsafehttp.NewHandlerWithLevel(h, true), stop
		}},
	}
}

// TestServerOverload offers a server of capacity C (200 a second) 1, 2, 5
// and 10 times C for a minute, on a simulated clock, behind Breakwater's
// admission control, and checks the goals: goodput at least 90 % of C
// under overload (88 % at C itself),
// the p99 latency of admitted requests at most twice the unloaded p99,
// critical requests (5 %, within C at every load) at least 99 % served.
// With -server.write it runs the peers too and writes docs/server.md and
// its chart:
//
//	go test ./bench -run ServerOverload -v -args -server.write
func TestServerOverload(t *testing.T) {
	base := serve.Base
	var unloaded serve.Result
	synctest.Test(t, func(t *testing.T) {
		s := base
		s.Load = 0.5
		unloaded = serve.Run(s, protections(s)[1], serve.Client{})
	})
	t.Logf("unloaded (0.5 C, no protection): p50 %v, p99 %v", unloaded.P50, unloaded.P99)
	ps := protections(base)
	if !*writeServer {
		ps = ps[:1]
	}
	var results []serve.Result
	for _, load := range []float64{1, 2, 5, 10} {
		for _, p := range ps {
			s := base
			s.Load = load
			var r serve.Result
			synctest.Test(t, func(t *testing.T) { r = serve.Run(s, p, serve.Client{}) })
			t.Logf("%4.0f× %-40s goodput %5.1f%%  p50 %6v  p99 %6v  critical %5.1f%%  shed %5.1f%%  wasted %5.1f%%",
				load, p.Name, 100*r.Goodput, r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond), 100*r.Critical, 100*r.Shed, 100*r.Wasted)
			results = append(results, r)
			if p.Name != ps[0].Name {
				continue
			}
			// At C itself (no overload), bursts queue for longer than the
			// queue allows, and bounding the latency sheds some 8 %.
			if floor := map[bool]float64{true: 0.88, false: 0.9}[load == 1]; r.Goodput < floor {
				t.Errorf("%v× C: goodput %.1f%% of C, want at least %.0f%%", load, 100*r.Goodput, 100*floor)
			}
			if r.P99 > 2*unloaded.P99 {
				t.Errorf("%v× C: p99 %v, want at most twice the unloaded %v", load, r.P99, unloaded.P99)
			}
			if r.Critical < 0.99 {
				t.Errorf("%v× C: %.1f%% of critical requests served, want at least 99%%", load, 100*r.Critical)
			}
		}
	}
	if *writeServer {
		// The same, live: in real time, each protection for 15 s after
		// 5 s of warm-up, one after another on this machine.
		live := base
		live.Duration, live.Warmup = 20*time.Second, 5*time.Second
		var liveResults []serve.Result
		for _, load := range []float64{1, 2, 5, 10} {
			for _, p := range ps {
				s := live
				s.Load = load
				r := serve.Run(s, p, serve.Client{})
				t.Logf("live %4.0f× %-40s goodput %5.1f%%  p99 %6v  critical %5.1f%%", load, p.Name, 100*r.Goodput, r.P99.Round(time.Millisecond), 100*r.Critical)
				liveResults = append(liveResults, r)
			}
		}
		if err := writeServerDoc(base, unloaded, results, liveResults, metastableEndToEnd(t)); err != nil {
			t.Fatal(err)
		}
	}
}
