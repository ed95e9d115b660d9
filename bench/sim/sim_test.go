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
