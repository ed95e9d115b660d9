package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/admission"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/dashboard"
	"github.com/breakwater-go/breakwater/registry"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/watch"
)

type fixture struct {
	clk      *clocktest.Fake
	breakers *registry.Registry[*breaker.Breaker]
	srv      *httptest.Server
}

func newFixture(t *testing.T, cfg dashboard.Config) fixture {
	t.Helper()
	clk := clocktest.NewFake(time.Unix(1_000_000, 0))
	breakers, err := breaker.NewRegistry(breaker.Config{
		Trip: breaker.Consecutive(2), OpenDuration: 30 * time.Second, Clock: clk}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var w watch.List
	w.Add(breakers)
	p, _ := retry.New(retry.Config{Name: "prices"})
	w.Add(p)
	cfg.Watch, cfg.Clock = &w, clk
	d, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", http.StripPrefix("/dashboard", d))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return fixture{clk, breakers, srv}
}

func (f fixture) snapshot(t *testing.T) dashboard.Snapshot {
	t.Helper()
	return snapshotAt(t, f.srv.URL+"/dashboard/snapshot.json")
}

// snapshotAt reads the snapshot at url.
func snapshotAt(t *testing.T, url string) dashboard.Snapshot {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s dashboard.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func fail(context.Context) error { return errors.New("503") }

// A tripped circuit shows open, with the time until its probe, its trip
// and its rejections; calls a second come from the counters' increase;
// the history grows one point a snapshot.
func TestSnapshot(t *testing.T) {
	f := newFixture(t, dashboard.Config{})
	ctx := context.Background()
	api, db := f.breakers.Get("api"), f.breakers.Get("db")
	_ = db.Do(ctx, func(context.Context) error { return nil })
	_ = f.snapshot(t)
	for range 3 {
		_ = api.Do(ctx, fail) // two failures open it, the third is rejected
	}
	f.clk.Advance(2 * time.Second)
	s := f.snapshot(t)
	if len(s.Circuits) != 2 || len(s.Retries) != 1 || s.Circuits[0].Actions != nil {
		t.Fatalf("snapshot %+v", s)
	}
	c := s.Circuits[0]
	if c.Name != "api" || c.State != "open" || c.Trips != 1 || c.Rejections != 1 || c.ProbeInSeconds != 28 || c.InStateSeconds != 2 {
		t.Errorf("api: %+v", c)
	}
	if c.CallsPerSecond != 1.5 || c.History == nil || len(c.History.CallsPerSecond) != 2 {
		t.Errorf("api: %v calls a second, history %v; want 1.5 (3 in 2 s), 2 points", c.CallsPerSecond, c.History)
	}
	if s.Circuits[1].State != "closed" {
		t.Errorf("db: %+v", s.Circuits[1])
	}
}

// The stream sends a snapshot at once, then one every interval, and ends
// when the client goes (the leak check sees no handler left).
func TestStream(t *testing.T) {
	f := newFixture(t, dashboard.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a stream that stalls fails the test
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/dashboard/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	next := func() dashboard.Snapshot {
		t.Helper()
		for lines.Scan() {
			if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
				var s dashboard.Snapshot
				if err := json.Unmarshal([]byte(data), &s); err != nil {
					t.Fatal(err)
				}
				return s
			}
		}
		t.Fatalf("stream ended: %v", lines.Err())
		return dashboard.Snapshot{}
	}
	first := next()
	f.breakers.Get("api").Trip()
	waitCtx, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	// Two timers: the open circuit's cool-down, and the stream's wait for
	// its next snapshot, which moving the clock before it exists would miss.
	if err := f.clk.WaitForTimers(waitCtx, 2); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(500 * time.Millisecond) // the default Interval
	second := next()
	if len(first.Circuits) != 0 || len(second.Circuits) != 1 || second.Circuits[0].State != "open" || second.Circuits[0].History != nil {
		t.Errorf("first %+v\nsecond %+v", first.Circuits, second.Circuits)
	}
}

// Without Config.Actions the action endpoint does not exist; with it, it
// takes POST with the X-Breakwater-Action header only, and every action
// is logged with the remote address.
func TestActions(t *testing.T) {
	ro := newFixture(t, dashboard.Config{})
	ro.breakers.Get("api")
	if code := post(t, ro.srv.URL, "trip", "api", true); code != http.StatusNotFound {
		t.Errorf("read-only dashboard: action answered %d, want 404", code)
	}

	var logs strings.Builder
	rw := newFixture(t, dashboard.Config{Actions: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	api := rw.breakers.Get("api")
	if code := post(t, rw.srv.URL, "trip", "api", false); code != http.StatusForbidden {
		t.Errorf("without the header: %d, want 403", code)
	}
	if code := get(t, rw.srv.URL+"/dashboard/actions?action=trip&name=api"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", code)
	}
	for _, c := range []struct {
		action, name string
		code         int
		state        breaker.State
	}{
		{"trip", "api", http.StatusNoContent, breaker.Open},
		{"reset", "api", http.StatusNoContent, breaker.Closed},
		{"force-open", "api", http.StatusNoContent, breaker.ForcedOpen},
		{"explode", "api", http.StatusBadRequest, breaker.ForcedOpen},
		{"reset", "nobody", http.StatusNotFound, breaker.ForcedOpen},
	} {
		if code := post(t, rw.srv.URL, c.action, c.name, true); code != c.code || api.State() != c.state {
			t.Errorf("%s %s: %d, state %v; want %d, %v", c.action, c.name, code, api.State(), c.code, c.state)
		}
	}
	if s := rw.snapshot(t); len(s.Circuits[0].Actions) != 3 || s.Circuits[0].State != "forced-open" {
		t.Errorf("after the actions: %+v", s)
	}
	if got := strings.Count(logs.String(), "dashboard action"); got != 3 || !strings.Contains(logs.String(), "remote=127.0.0.1:") {
		t.Errorf("log:\n%s", logs.String())
	}
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func post(t *testing.T, base, action, name string, header bool) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/dashboard/actions", strings.NewReader(url.Values{"action": {action}, "name": {name}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if header {
		req.Header.Set("X-Breakwater-Action", "1")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A thousand circuits are one snapshot, their histories bounded; circuits
// removed from the registry leave it with their history.
func TestThousandCircuits(t *testing.T) {
	f := newFixture(t, dashboard.Config{History: 5})
	for i := range 1000 {
		f.breakers.Get("host-" + string(rune('a'+i%26)) + "-" + time.Duration(i).String())
	}
	for range 8 {
		f.clk.Advance(time.Second)
		_ = f.snapshot(t)
	}
	s := f.snapshot(t)
	if len(s.Circuits) != 1000 || s.History != 5 || len(s.Circuits[0].History.FailureRate) != 5 {
		t.Fatalf("%d circuits, history of %d", len(s.Circuits), len(s.Circuits[0].History.FailureRate))
	}
	for _, b := range f.breakers.All()[:500] {
		f.breakers.Remove(b.Name())
	}
	f.clk.Advance(time.Second)
	if s := f.snapshot(t); len(s.Circuits) != 500 {
		t.Errorf("%d circuits after removing 500", len(s.Circuits))
	}
}

// The page, its script and style are served from the binary, and refer
// to nothing outside it.
func TestPageIsSelfContained(t *testing.T) {
	f := newFixture(t, dashboard.Config{})
	for path, want := range map[string]string{"/dashboard/": `src="app.js"`, "/dashboard/app.js": "EventSource", "/dashboard/style.css": ".state.open"} {
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d, body lacks %q", path, resp.StatusCode, want)
		}
		if strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") {
			t.Errorf("%s refers to an external address", path)
		}
	}
	if code := get(t, f.srv.URL+"/dashboard/secret"); code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
}

func TestInvalidConfig(t *testing.T) {
	var w watch.List
	for _, cfg := range []dashboard.Config{
		{},
		{Watch: &w, Interval: time.Millisecond},
		{Watch: &w, History: 1},
		{Watch: &w, History: 100_000},
	} {
		if _, err := dashboard.New(cfg); !errors.Is(err, config.ErrInvalid) {
			t.Errorf("%+v: err = %v", cfg, err)
		}
	}
}

// source is a Source of circuits held in memory, as a state file or a
// store would hold them.
type source struct {
	mu       sync.Mutex
	circuits map[string]breaker.State
	err      error // returned by Circuits and Act
	acted    []string
}

func (s *source) Circuits() ([]breaker.Metrics, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var ms []breaker.Metrics
	for name, state := range s.circuits {
		ms = append(ms, breaker.Metrics{Name: name, State: state, Calls: 10, FailureRate: 0.5})
	}
	return ms, nil
}

func (s *source) Actions() []dashboard.Action {
	return []dashboard.Action{dashboard.Trip, dashboard.Reset}
}

func (s *source) Act(_ context.Context, action dashboard.Action, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if _, ok := s.circuits[name]; !ok {
		return dashboard.ErrNoCircuit
	}
	s.acted = append(s.acted, string(action)+" "+name)
	s.circuits[name] = map[dashboard.Action]breaker.State{dashboard.Trip: breaker.Open, dashboard.Reset: breaker.Closed}[action]
	return nil
}

// A Source's circuits are shown beside the breakers, one row per name,
// with the actions all of a row's circuits can take; its actions reach it;
// an error reading it is shown, and one carrying out an action answered.
func TestSource(t *testing.T) {
	src := &source{circuits: map[string]breaker.State{"nightly-backup": breaker.Open, "api": breaker.Closed}}
	var logs strings.Builder
	f := newFixture(t, dashboard.Config{Source: src, Actions: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	f.breakers.Get("api")
	f.breakers.Get("db")
	s := f.snapshot(t)
	rows := map[string]dashboard.Circuit{}
	for _, c := range s.Circuits {
		rows[c.Name] = c
	}
	if len(rows) != 3 || rows["api"].Breakers != 2 || rows["nightly-backup"].State != "open" || rows["nightly-backup"].Calls != 10 || rows["api"].FailureRate != 0.5 {
		t.Fatalf("rows %+v", rows)
	}
	if got := fmt.Sprint(rows["api"].Actions, rows["db"].Actions, rows["nightly-backup"].Actions); got != "[trip reset] [trip reset force-open] [trip reset]" {
		t.Errorf("actions %s", got)
	}

	if code := post(t, f.srv.URL, "reset", "nightly-backup", true); code != http.StatusNoContent || src.circuits["nightly-backup"] != breaker.Closed {
		t.Errorf("reset: %d, %v", code, src.circuits)
	}
	if code := post(t, f.srv.URL, "trip", "api", true); code != http.StatusNoContent || src.circuits["api"] != breaker.Open || f.breakers.Get("api").State() != breaker.Open {
		t.Errorf("trip of a name in both: %d", code)
	}
	if code := post(t, f.srv.URL, "force-open", "nightly-backup", true); code != http.StatusNotFound {
		t.Errorf("an action the source cannot take: %d, want 404", code)
	}
	if fmt.Sprint(src.acted) != "[reset nightly-backup trip api]" || !strings.Contains(logs.String(), "breakers=2") {
		t.Errorf("acted %v; log:\n%s", src.acted, logs.String())
	}

	src.mu.Lock()
	src.err = errors.New("state file is corrupt")
	src.mu.Unlock()
	if code := post(t, f.srv.URL, "trip", "nightly-backup", true); code != http.StatusInternalServerError || !strings.Contains(logs.String(), "state file is corrupt") {
		t.Errorf("a failing action: %d; log:\n%s", code, logs.String())
	}
	f.clk.Advance(time.Second)
	if s := f.snapshot(t); s.Error != "state file is corrupt" || len(s.Circuits) != 2 {
		t.Errorf("unreadable source: error %q, %d circuits", s.Error, len(s.Circuits))
	}
}

// A Source alone is enough: the page shows its circuits and nothing else.
func TestSourceAlone(t *testing.T) {
	d, err := dashboard.New(dashboard.Config{Source: &source{circuits: map[string]breaker.State{"deploy": breaker.HalfOpen}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/snapshot.json", nil))
	var s dashboard.Snapshot
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Circuits) != 1 || s.Circuits[0].State != "half-open" || s.Circuits[0].Actions != nil || len(s.Retries) != 0 {
		t.Errorf("%+v", s)
	}
}

// panicky is a Source whose first reading panics.
type panicky struct {
	source
	once sync.Once
}

func (p *panicky) Circuits() ([]breaker.Metrics, error) {
	p.once.Do(func() { panic("a source's bug") })
	return p.source.Circuits()
}

// A Source that panics fails that request only: the dashboard's lock is
// released and the next snapshot is whole.
func TestPanickingSourceDoesNotWedgeTheDashboard(t *testing.T) {
	d, err := dashboard.New(dashboard.Config{Source: &panicky{source: source{circuits: map[string]breaker.State{"deploy": breaker.Open}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(d)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // net/http reports the recovered panic there
	srv.Start()
	wedged := false
	defer func() {
		if !wedged { // Close would wait for the stuck handler for ever
			srv.Close()
		}
	}()
	if resp, err := http.Get(srv.URL + "/snapshot.json"); err == nil {
		resp.Body.Close()
		t.Fatalf("the panicking snapshot answered %d", resp.StatusCode)
	}
	done := make(chan dashboard.Snapshot)
	go func() {
		resp, err := http.Get(srv.URL + "/snapshot.json")
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		defer resp.Body.Close()
		var s dashboard.Snapshot
		json.NewDecoder(resp.Body).Decode(&s)
		done <- s
	}()
	select {
	case s := <-done:
		if len(s.Circuits) != 1 || s.Circuits[0].State != "open" {
			t.Errorf("after the panic: %+v", s)
		}
	case <-time.After(10 * time.Second):
		wedged = true
		t.Fatal("the dashboard is wedged after a Source panicked")
	}
}

// An open circuit on a failure-rate window shows the rate that opened it,
// not the 0 % of the window cleared at the trip.
func TestOpenCircuitShowsTheRateThatOpenedIt(t *testing.T) {
	clk := clocktest.NewFake(time.Unix(1_000_000, 0))
	reg, _ := breaker.NewRegistry(breaker.Config{Trip: breaker.CountWindow{Size: 4, FailureRate: 0.5}, Clock: clk}, 0)
	var w watch.List
	w.Add(reg)
	d, err := dashboard.New(dashboard.Config{Watch: &w, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	b := reg.Get("api")
	_ = b.Do(context.Background(), func(context.Context) error { return nil })
	for range 3 {
		_ = b.Do(context.Background(), fail)
	}
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/snapshot.json", nil))
	var s dashboard.Snapshot
	if err := json.NewDecoder(rec.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if c := s.Circuits[0]; c.State != "open" || c.FailureRate != 0.75 {
		t.Fatalf("open circuit: %+v; want the 75 %% that opened it", c)
	}
}

// An admission controller is in the snapshot, its counts keyed by
// priority names.
func TestSnapshotShowsAdmission(t *testing.T) {
	var w watch.List
	ac, err := admission.New(admission.Config{Name: "api"})
	if err != nil {
		t.Fatal(err)
	}
	w.Add(ac)
	d, err := dashboard.New(dashboard.Config{Watch: &w})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	defer srv.Close()
	p, err := ac.Admit(context.Background(), admission.Critical)
	if err != nil {
		t.Fatal(err)
	}
	p.Done(nil)
	s := snapshotAt(t, srv.URL+"/snapshot.json")
	if len(s.Admissions) != 1 || s.Admissions[0].Name != "api" || s.Admissions[0].Admitted[admission.Critical] != 1 || s.Admissions[0].Limit != 3 {
		t.Fatalf("admissions %+v", s.Admissions)
	}
}

// configured is a configuration that reports itself, as a stackfile.Live
// does.
type configured struct{ c watch.Configuration }

func (c configured) Configuration() watch.Configuration { return c.c }

// The snapshot carries the configurations in force: where each came
// from, its reloads, each policy's settings and overrides.
func TestSnapshotShowsConfigurations(t *testing.T) {
	var w watch.List
	w.Add(configured{watch.Configuration{Origin: "svc.json", Reloads: 2, Refusals: 1, LastRefusal: "bad",
		Policies: []watch.ConfiguredPolicy{{Name: "retries", Kind: "retry", Settings: `{"retry":{"maxAttempts":3}}`,
			Overrides: []string{"BREAKWATER_POLICIES_RETRIES_RETRY_MAXATTEMPTS=3"}}}}})
	d, err := dashboard.New(dashboard.Config{Watch: &w})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	defer srv.Close()
	s := snapshotAt(t, srv.URL+"/snapshot.json")
	if len(s.Configurations) != 1 || s.Configurations[0].Origin != "svc.json" || len(s.Configurations[0].Policies) != 1 ||
		s.Configurations[0].Policies[0].Overrides[0] != "BREAKWATER_POLICIES_RETRIES_RETRY_MAXATTEMPTS=3" {
		t.Fatalf("configurations %+v", s.Configurations)
	}
}
