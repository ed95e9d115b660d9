package bwgrpc

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/config"
	"google.golang.org/grpc/codes"
)

// FuzzPushback: any trailer value is a delay in [0, a day] or "do not
// retry", never a negative delay (which would also mean "do not retry").
func FuzzPushback(f *testing.F) {
	for _, s := range []string{"0", "250", "-1", "abc", "9223372036854775807", "", " 5", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := pushback(v)
		if !ok {
			return
		}
		if d < 0 || d > 24*time.Hour {
			t.Fatalf("pushback(%q) = %v", v, d)
		}
		if ms, err := strconv.ParseInt(v, 10, 64); err != nil || (ms < 86_400_000 && d != time.Duration(ms)*time.Millisecond) {
			t.Fatalf("pushback(%q) = %v, %v", v, d, ok)
		}
	})
}

// FuzzConfig: any Config gives a working interceptor or an error naming
// the field, never a panic.
func FuzzConfig(f *testing.F) {
	f.Add(false, false, []byte{14}, []byte{13, 2})
	f.Add(true, true, []byte{}, []byte{0, 17, 255})
	f.Fuzz(func(t *testing.T, noBreaker, noRetry bool, retryCodes, failureCodes []byte) {
		toCodes := func(b []byte) []codes.Code {
			if len(b) == 0 {
				return nil
			}
			out := make([]codes.Code, len(b))
			for i, c := range b {
				out[i] = codes.Code(c)
			}
			return out
		}
		ic, err := New(Config{NoBreaker: noBreaker, NoRetry: noRetry, RetryCodes: toCodes(retryCodes), FailureCodes: toCodes(failureCodes)})
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Field == "" || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("want a *config.Error naming a field, got %v", err)
			}
			return
		}
		if (ic.breakers == nil) != noBreaker || (ic.retry == nil) != noRetry {
			t.Fatal("NoBreaker or NoRetry not honoured")
		}
		_ = ic.retryable(errors.New("x"), nil)
	})
}
