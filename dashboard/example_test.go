package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/dashboard"
	"github.com/breakwater-go/breakwater/watch"
)

// A service mounts the dashboard beside its own handlers; the page is at
// /dashboard/, its snapshot at /dashboard/snapshot.json.
func ExampleNew() {
	hosts, _ := breaker.NewRegistry(breaker.Config{}, 0)
	var watched watch.List
	watched.Add(hosts)
	board, err := dashboard.New(dashboard.Config{Watch: &watched})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", http.StripPrefix("/dashboard", board))

	hosts.Get("payments.internal").Trip() // what the page would show red
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/dashboard/snapshot.json")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var s dashboard.Snapshot
	json.NewDecoder(resp.Body).Decode(&s)
	for _, c := range s.Circuits {
		fmt.Println(c.Name, c.State, c.Trips)
	}
	// Output: payments.internal open 1
}

// jobs is a Source: circuits another process keeps, here read-only.
type jobs map[string]breaker.State

func (j jobs) Circuits() ([]breaker.Metrics, error) {
	var ms []breaker.Metrics
	for name, state := range j {
		ms = append(ms, breaker.Metrics{Name: name, State: state})
	}
	return ms, nil
}

func (jobs) Actions() []dashboard.Action { return nil }

func (jobs) Act(context.Context, dashboard.Action, string) error { return dashboard.ErrNoCircuit }

// Circuits that are not breakers of this process join the page through a
// Source.
func ExampleSource() {
	board, err := dashboard.New(dashboard.Config{Source: jobs{"nightly-export": breaker.HalfOpen}})
	if err != nil {
		panic(err)
	}
	rec := httptest.NewRecorder()
	board.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/snapshot.json", nil))
	var s dashboard.Snapshot
	json.Unmarshal(rec.Body.Bytes(), &s)
	fmt.Println(s.Circuits[0].Name, s.Circuits[0].State)
	// Output: nightly-export half-open
}
