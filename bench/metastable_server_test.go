package bench

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/bench/serve"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/internal/sim"
	"github.com/breakwater-go/breakwater/retry"
)

// metastableServer is sim.Metastable's server and traffic: 150 requests a
// second against 20 workers of 100 ms (200 a second), whose capacity falls
// to 40 % from 0:30 to 0:40; clients give up on an attempt after 1 s.
var metastableServer = serve.Scenario{Seed: 1, Workers: 20, Service: 100 * time.Millisecond, Load: 0.75,
	Duration: 2 * time.Minute, Warmup: 10 * time.Second, Timeout: time.Second,
	TriggerStart: 30 * time.Second, TriggerEnd: 40 * time.Second, TriggerCapacity: 0.4}

// clientStack returns a Client whose attempts go through the stack p of
// the simulator's configurations, built from the real policies (inside the
// caller's bubble, whose clock they read).
func clientStack(t *testing.T, p sim.Policy) serve.Client {
	var policies []any
	if p.Retry != nil {
		cfg := *p.Retry
		cfg.NoBudget = !p.Budget
		r, err := retry.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		policies = append(policies, r)
	}
	if p.Breaker != nil {
		b, err := breaker.New(*p.Breaker)
		if err != nil {
			t.Fatal(err)
		}
		policies = append(policies, b)
	}
	if p.Adaptive != nil {
		l, err := adaptive.New(*p.Adaptive)
		if err != nil {
			t.Fatal(err)
		}
		policies = append(policies, l)
	}
	return serve.Client{Name: p.Name, Do: func(ctx context.Context, attempt func(context.Context) error) error {
		return breakwater.Do(ctx, attempt, policies...)
	}}
}

// TestServerMetastableEndToEnd plays the metastable trigger end to end:
// clients with no policy, with retries alone, and with the recommended
// stack, against the server with and without admission control. Clients of
// ours and a server of ours form one loop: a shed attempt is a rejection
// that says when to come back, which retries honour and which the breaker
// and the adaptive limit do not count against the server.
func TestServerMetastableEndToEnd(t *testing.T) {
	for _, r := range metastableEndToEnd(t) {
		t.Logf("%-56s × %-22s success %5.1f%%  amplification %.2f×  recovery %6v  wasted %5.1f%%  shed %5.1f%%",
			r.Client, r.Name, 100*r.Success, r.Amplification, r.Recovery, 100*r.Wasted, 100*r.Shed)
	}
}

// metastableEndToEnd plays each client against each server in
// metastableServer.
func metastableEndToEnd(t *testing.T) []serve.Result {
	none, admitted := protections(metastableServer)[1], protections(metastableServer)[0]
	cases := []struct {
		client sim.Policy
		server serve.Protection
	}{
		{sim.Policy{Name: "one attempt"}, none},
		{sim.Policy{Name: "one attempt"}, admitted},
		{sim.MetastableConfigs()[1], none},
		{sim.MetastableConfigs()[1], admitted},
		{sim.Recommended(), none},
		{sim.Recommended(), admitted},
	}
	var results []serve.Result
	for _, c := range cases {
		var r serve.Result
		synctest.Test(t, func(t *testing.T) { r = serve.Run(metastableServer, c.server, clientStack(t, c.client)) })
		results = append(results, r)
	}
	return results
}
