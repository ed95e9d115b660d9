package bwprom_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/watch"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwprom"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics from a real server on 127.0.0.1 and parses it.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape answered %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return families
}

// value returns the value of the series of family name whose labels
// include want; it fails the test if there is no such series.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f := families[name]
	if f == nil {
		t.Fatalf("no family %s", name)
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no series of %s with labels %v", name, want)
	return 0
}

func TestMetricsAfterATripAndARecovery(t *testing.T) {
	clk := clocktest.NewFake(time.Time{})
	list := new(watch.List)
	c := bwprom.NewCollector(list)
	reg, _ := breaker.NewRegistry(breaker.Config{
		Trip: breaker.Consecutive(2), SlowCallDuration: time.Second, Clock: clk, Hooks: c.BreakerHooks(),
	}, 0)
	list.Add(reg)
	r, _ := retry.New(retry.Config{Name: "payments-retry", MaxAttempts: 3, Clock: clk, Jitter: retry.JitterNone})
	list.Add(r)

	promReg := prometheus.NewRegistry()
	promReg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}))
	defer srv.Close()

	b := reg.Get("payments-api")
	list.Add(b) // watched twice: exposed once
	ctx := context.Background()
	down := errors.New("503")
	clk.Drive(func() {
		r.Do(ctx, func(ctx context.Context) error { // failure, failure (opens), rejected
			return b.Do(ctx, func(context.Context) error { return down })
		})
	})
	f := scrape(t, srv.URL)
	name := map[string]string{"name": "payments-api"}
	for state, want := range map[string]float64{"closed": 0, "open": 1, "half-open": 0, "forced-open": 0, "disabled": 0} {
		if got := value(t, f, "breakwater_circuit_state", map[string]string{"name": "payments-api", "state": state}); got != want {
			t.Errorf("state %s = %v, want %v", state, got, want)
		}
	}
	for outcome, want := range map[string]float64{"success": 0, "failure": 2, "ignored": 0, "rejected": 1} {
		if got := value(t, f, "breakwater_circuit_calls_total", map[string]string{"name": "payments-api", "outcome": outcome}); got != want {
			t.Errorf("calls{%s} = %v, want %v", outcome, got, want)
		}
	}
	if got := value(t, f, "breakwater_circuit_trips_total", name); got != 1 {
		t.Errorf("trips = %v", got)
	}
	if got := value(t, f, "breakwater_retry_retries_total", map[string]string{"name": "payments-retry"}); got != 2 {
		t.Errorf("retries = %v", got)
	}
	if got := value(t, f, "breakwater_retry_calls_total", map[string]string{"name": "payments-retry"}); got != 1 {
		t.Errorf("retry calls = %v", got)
	}
	if got := value(t, f, "breakwater_retry_budget_tokens", map[string]string{"name": "payments-retry"}); got != 8 {
		t.Errorf("budget tokens = %v, want 8 after two failed attempts", got)
	}
	if n := len(f["breakwater_circuit_trips_total"].Metric); n != 1 {
		t.Errorf("%d trip series: a breaker watched twice must be exposed once", n)
	}

	// Recovery: a probe that succeeds, then a slow call.
	clk.Advance(30 * time.Second)
	b.Do(ctx, func(context.Context) error { return nil })
	b.Do(ctx, func(context.Context) error { clk.Advance(2 * time.Second); return nil })
	f = scrape(t, srv.URL)
	if got := value(t, f, "breakwater_circuit_state", map[string]string{"name": "payments-api", "state": "closed"}); got != 1 {
		t.Errorf("closed = %v after recovery", got)
	}
	if got := value(t, f, "breakwater_circuit_state_changes_total", name); got != 3 {
		t.Errorf("state changes = %v, want 3 (open, half-open, closed)", got)
	}
	if got := value(t, f, "breakwater_circuit_slow_calls_total", name); got != 1 {
		t.Errorf("slow calls = %v", got)
	}
	if got := value(t, f, "breakwater_circuit_call_duration_seconds", map[string]string{"name": "payments-api", "outcome": "success"}); got != 2 {
		t.Errorf("duration samples = %v", got)
	}
	h := f["breakwater_circuit_call_duration_seconds"]
	for _, m := range h.Metric {
		if m.Label[1].GetValue() == "success" && m.Histogram.GetSampleSum() != 2 {
			t.Errorf("duration sum = %v, want 2s", m.Histogram.GetSampleSum())
		}
	}
}

func TestMetricNamesFollowConventions(t *testing.T) {
	list := new(watch.List)
	c := bwprom.NewCollector(list)
	b, _ := breaker.New(breaker.Config{Name: "x", Hooks: c.BreakerHooks()})
	list.Add(b)
	r, _ := retry.New(retry.Config{Name: "y"})
	list.Add(r)
	b.Do(context.Background(), func(context.Context) error { return nil })
	reg := prometheus.NewPedanticRegistry() // checks descriptions against metrics
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		name := f.GetName()
		if len(name) < 11 || name[:11] != "breakwater_" {
			t.Errorf("%s lacks the breakwater_ prefix", name)
		}
		if f.GetType() == dto.MetricType_COUNTER && name[len(name)-6:] != "_total" {
			t.Errorf("counter %s does not end in _total", name)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
	}
}

// The duration histogram tells a 100-µs call from a 4-ms one: with
// Prometheus's default buckets (from 5 ms) they shared one.
func TestDurationBucketsResolveFastCalls(t *testing.T) {
	clk := clocktest.NewFake(time.Time{})
	list := new(watch.List)
	c := bwprom.NewCollector(list)
	b, _ := breaker.New(breaker.Config{Name: "cache", Clock: clk, Hooks: c.BreakerHooks()})
	list.Add(b)
	for _, d := range []time.Duration{100 * time.Microsecond, 4 * time.Millisecond, 20 * time.Second} {
		b.Do(context.Background(), func(context.Context) error { clk.Advance(d); return nil })
	}
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}))
	defer srv.Close()
	f := scrape(t, srv.URL)
	var h *dto.Histogram
	for _, m := range f["breakwater_circuit_call_duration_seconds"].Metric {
		for _, l := range m.Label {
			if l.GetName() == "outcome" && l.GetValue() == "success" {
				h = m.Histogram
			}
		}
	}
	if h == nil {
		t.Fatal("no success histogram")
	}
	// Each call is the first to reach a bucket of its own.
	var filled []float64
	prev := uint64(0)
	for _, bk := range h.Bucket {
		if bk.GetCumulativeCount() > prev {
			filled = append(filled, bk.GetUpperBound())
			prev = bk.GetCumulativeCount()
		}
	}
	if len(filled) != 3 || filled[0] > 0.0001 || filled[1] > 0.005 || filled[2] > 30 {
		t.Fatalf("the calls of 100 µs, 4 ms and 20 s first reach buckets %v; want three, up to 0.0001, 0.005 and 30", filled)
	}
}
