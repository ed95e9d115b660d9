package bwhttp

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/admission"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/registry"
	"github.com/breakwater-go/breakwater/retry"
)

// FuzzRetryAfter: any Retry-After header gives no delay or one in
// [0, a day] — never a negative one — and seconds are read exactly.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
		"99999999999999999999", "1.5", "", "Mon, 02 Jan 2006 15:04:05 MST"} {
		f.Add(s)
	}
	tr := &Transport{clock: clocktest.NewFake(time.Time{})}
	f.Fuzz(func(t *testing.T, v string) {
		resp := &http.Response{Header: http.Header{"Retry-After": []string{v}}}
		d, ok := tr.retryAfter(resp)
		if !ok {
			return
		}
		if d < 0 {
			t.Fatalf("Retry-After %q gave %v", v, d)
		}
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs < 86_400 && d != time.Duration(secs)*time.Second {
			t.Fatalf("Retry-After %q gave %v", v, d)
		}
	})
}

// FuzzConfig: any Config gives a working transport or an error naming the
// field, never a panic.
func FuzzConfig(f *testing.F) {
	f.Add(false, false, false, false, false)
	f.Add(true, true, true, true, true)
	f.Fuzz(func(t *testing.T, noBreaker, withBreakers, noRetry, withRetry, nonIdempotent bool) {
		cfg := Config{NoBreaker: noBreaker, NoRetry: noRetry, RetryNonIdempotent: nonIdempotent}
		if withBreakers {
			cfg.Breakers = mustRegistry()
		}
		if withRetry {
			cfg.Retry = mustRetryPolicy()
		}
		tr, err := NewTransport(cfg)
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Field == "" || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("want a *config.Error naming a field, got %v", err)
			}
			return
		}
		if (tr.breakers == nil) != noBreaker || (tr.retry == nil) != noRetry {
			t.Fatal("NoBreaker or NoRetry not honoured")
		}
		req, _ := http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
		_ = tr.canRetry(req)
	})
}

func mustRegistry() *registry.Registry[*breaker.Breaker] {
	r, err := breaker.NewRegistry(breaker.Config{}, 0)
	if err != nil {
		panic(err)
	}
	return r
}

func mustRetryPolicy() *retry.Policy {
	p, err := retry.New(retry.Config{})
	if err != nil {
		panic(err)
	}
	return p
}

// FuzzAdmissionHeaders: whatever a client sends as its priority and
// timeout, the handler answers 200 or 503 and never panics; a timeout it
// can read bounds the handler's context.
func FuzzAdmissionHeaders(f *testing.F) {
	for _, s := range [][2]string{{"critical", "250"}, {"sheddable", "0"}, {"", "-1"}, {"CRITICAL", "99999999999999999999"},
		{"default", "1e3"}, {"\x00", " 5"}} {
		f.Add(s[0], s[1])
	}
	ac, err := admission.New(admission.Config{})
	if err != nil {
		f.Fatal(err)
	}
	h, err := NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, ok := r.Context().Deadline(); ok && time.Until(d) > 24*time.Hour {
			panic("a deadline past a day")
		}
	}), ServerConfig{Admission: ac})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, priority, timeout string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set(PriorityHeader, priority)
		r.Header.Set(TimeoutHeader, timeout)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("priority %q, timeout %q: answered %d", priority, timeout, w.Code)
		}
	})
}
