package bwhttp

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/breakwater-go/breakwater/config"
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

func mustRegistry() *breaker.Registry {
	r, err := breaker.NewRegistry(breaker.RegistryConfig{})
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
