package sim

import (
	"reflect"
	"testing"
	"time"
)

var short = Scenario{
	Seed: 7, Duration: 30 * time.Second, Rate: 50,
	OutageStart: 10 * time.Second, OutageEnd: 20 * time.Second,
	Capacity: 80, ErrorRate: 0.01,
}

func runAll(t *testing.T, sc Scenario) map[string]Result {
	t.Helper()
	out := map[string]Result{}
	for _, p := range Configs() {
		r, err := Run(sc, p)
		if err != nil {
			t.Fatal(err)
		}
		if r.Succeeded+r.Failed+r.Fallbacks != r.Requests {
			t.Fatalf("%s: %d succeeded + %d failed + %d fallbacks != %d requests", p.Name, r.Succeeded, r.Failed, r.Fallbacks, r.Requests)
		}
		out[p.Name] = r
	}
	return out
}

func TestInvariants(t *testing.T) {
	rs := runAll(t, short)
	none := rs["no protection"]
	if none.Retries != 0 || none.Attempts != none.Requests {
		t.Fatalf("no protection: %+v", none)
	}
	for _, name := range []string{"breaker", "retry + breaker", "retry + breaker + budget"} {
		if rs[name].OutageAttempts >= none.OutageAttempts {
			t.Errorf("%s: %d attempts reached the failing dependency, no protection %d: a breaker must shield it",
				name, rs[name].OutageAttempts, none.OutageAttempts)
		}
		if rs[name].Fallbacks == 0 {
			t.Errorf("%s: no request was served by the fallback during the outage", name)
		}
	}
	plain, budgeted := rs["retry, full jitter"], rs["retry + budget"]
	if budgeted.Retries >= plain.Retries/2 {
		t.Errorf("the budget allowed %d retries, plain retry %d: it must stop the storm", budgeted.Retries, plain.Retries)
	}
	// The budget's bound: 10 tokens, one per failed attempt, 0.1 back per
	// success; retries only above half. Retries ≤ 5 + 0.1 × successes.
	if limit := 5 + budgeted.Succeeded/10 + 1; budgeted.Retries > limit {
		t.Errorf("budgeted retries %d exceed the budget's bound %d", budgeted.Retries, limit)
	}
	if plain.OutageAttempts <= none.OutageAttempts {
		t.Errorf("retries did not add load during the outage: %d vs %d", plain.OutageAttempts, none.OutageAttempts)
	}
}

func TestDeterministic(t *testing.T) {
	a, b := runAll(t, short), runAll(t, short)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different results")
	}
	other := short
	other.Seed = 8
	if reflect.DeepEqual(a, runAll(t, other)) {
		t.Fatal("another seed gave the same results")
	}
}

// When the capacity halves, retries alone never recover; the adaptive
// limit keeps goodput near capacity, wastes little and recovers at once;
// against a server that refuses quickly, the throttle cuts the retries'
// amplification.
func TestOverloadInvariants(t *testing.T) {
	results := func(sc Overload) map[string]OverloadResult {
		out := map[string]OverloadResult{}
		for _, p := range OverloadConfigs() {
			r, err := RunOverload(sc, p)
			if err != nil {
				t.Fatal(err)
			}
			if r.Succeeded+r.Shed > r.Requests {
				t.Fatalf("%s: %d succeeded + %d shed > %d requests", p.Name, r.Succeeded, r.Shed, r.Requests)
			}
			out[p.Name] = r
		}
		return out
	}
	rs := results(CapacityHalves)
	if r := rs["retry"]; r.Recovery >= 0 || r.GoodputAfter > 0.1 {
		t.Errorf("retry alone recovered (%v, goodput after %.2f): the scenario shows no metastable failure", r.Recovery, r.GoodputAfter)
	}
	if r := rs["retry + adaptive limit"]; r.GoodputDuring < 0.85 || r.Wasted > 0.1 || r.Recovery < 0 || r.Recovery > 5*time.Second || r.P99 > CapacityHalves.Timeout {
		t.Errorf("retry + adaptive limit: goodput %.2f, wasted %.2f, recovery %v, p99 %v", r.GoodputDuring, r.Wasted, r.Recovery, r.P99)
	}
	short := CapacityHalves
	short.QueueLimit = 20
	rs = results(short)
	if plain, throttled := rs["retry"], rs["retry + throttle"]; throttled.Amplification >= plain.Amplification || throttled.GoodputDuring < 0.9 {
		t.Errorf("against a refusing server, the throttle: amplification %.2f (retry alone %.2f), goodput %.2f",
			throttled.Amplification, plain.Amplification, throttled.GoodputDuring)
	}
}

// On a heavy tail, hedging cuts the p99.9 tenfold for at most 5 % more
// attempts, at a fixed delay and at the p99.
func TestHedgingCutsTheTail(t *testing.T) {
	tl := HeavyTail
	tl.Requests = 50_000
	base := RunTail(tl, TailConfigs()[0])
	for _, h := range TailConfigs()[1:] {
		r := RunTail(tl, h)
		if h.Quantile == 0.95 {
			continue // cuts deepest, for about 5 % (the quantile's own share)
		}
		if r.P999*10 > base.P999 || r.Extra > 0.05 {
			t.Errorf("%s: p99.9 %v (none: %v) for %.1f%% extra attempts", h.Name, r.P999, base.P999, 100*r.Extra)
		}
	}
}

// The metastable scenario shows the failure, and the recommended stack
// gets out of it: naive retries never recover once the trigger ends; the
// recommended stack recovers within one open duration plus one probe,
// with amplification at most 1.1×, and neither trips nor sheds more than
// 1 % under 5 % background errors.
func TestMetastableInvariants(t *testing.T) {
	run := func(sc Overload, p Policy) OverloadResult {
		r, err := RunOverload(sc, p)
		if err != nil {
			t.Fatal(err)
		}
		if r.Succeeded+r.Shed > r.Requests {
			t.Fatalf("%s: %d succeeded + %d shed > %d requests", p.Name, r.Succeeded, r.Shed, r.Requests)
		}
		return r
	}
	configs := MetastableConfigs()
	if r := run(Metastable, configs[1]); r.Name != "retry" || r.Recovery >= 0 {
		t.Errorf("%s recovered after %v: the scenario shows no metastable failure", r.Name, r.Recovery)
	}
	rec := Recommended()
	open := rec.Breaker.OpenDuration
	r := run(Metastable, rec)
	if r.Recovery < 0 || r.Recovery > open+time.Second || r.Amplification > 1.1 {
		t.Errorf("recommended: recovery %v (want ≤ %v), amplification %.2f (want ≤ 1.1)", r.Recovery, open+time.Second, r.Amplification)
	}
	if b := run(Background, rec); b.Trips > 0 || b.ShedShare > 0.01 {
		t.Errorf("recommended, 5 %% background errors: %d trips, %.1f %% shed", b.Trips, 100*b.ShedShare)
	}
}

// The anchors' rules: Envoy's bounds retries in flight by a share of the
// attempts in flight with a floor; Finagle's bounds retries over its TTL
// by a share of requests plus a rate.
func TestAnchors(t *testing.T) {
	envoy := EnvoyBudget{Percent: 0.2, MinConcurrency: 3}
	for _, c := range []struct {
		inFlight, retries int
		want              bool
	}{{0, 2, true}, {0, 3, false}, {100, 19, true}, {100, 20, false}} {
		if got := envoy.allowRetry(0, c.inFlight, c.retries); got != c.want {
			t.Errorf("Envoy, %d in flight, %d retries: %v, want %v", c.inFlight, c.retries, got, c.want)
		}
	}
	f := (&FinagleBudget{Percent: 0.2, MinPerSecond: 1, TTL: 10 * time.Second}).fresh()
	for range 10 {
		f.request(0)
	}
	allowed := 0
	for f.allowRetry(time.Second, 0, 0) {
		allowed++
	}
	if allowed != 12 { // 20 % of 10 requests, and 1 a second over 10 s
		t.Errorf("Finagle allowed %d retries, want 12", allowed)
	}
	if !f.allowRetry(11*time.Second+time.Nanosecond, 0, 0) {
		t.Error("Finagle: retries older than the TTL still count")
	}
}
