package fallback_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/fallback"
	"github.com/breakwater-go/breakwater/outcome"
)

func TestFallback(t *testing.T) {
	openErr := &breaker.OpenError{Name: "prices", State: breaker.Open}
	tests := []struct {
		name    string
		policy  *fallback.Policy[string]
		callErr error
		want    string
		wantErr error
	}{
		{"success untouched", fallback.Value("cached"), nil, "live", nil},
		{"value on failure", fallback.Value("cached"), io.EOF, "cached", nil},
		{"function of the error", fallback.Func(func(_ context.Context, err error) (string, error) {
			return "because " + err.Error(), nil
		}), io.EOF, "because EOF", nil},
		{"function may fail too", fallback.Func(func(context.Context, error) (string, error) {
			return "", io.ErrUnexpectedEOF
		}), io.EOF, "", io.ErrUnexpectedEOF},
		{"only when open: open", fallback.Value("cached").When(outcome.Rejected), openErr, "cached", nil},
		{"only when open: other error", fallback.Value("cached").When(outcome.Rejected), io.EOF, "", io.EOF},
		{"no answer", &fallback.Policy[string]{}, io.EOF, "", fallback.ErrNoAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fallback.Execute(context.Background(), tt.policy, func(context.Context) (string, error) {
				if tt.callErr != nil {
					return "", tt.callErr
				}
				return "live", nil
			})
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestNoFallbackOnceTheCallerHasGone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := fallback.Execute(ctx, fallback.Value(1), func(ctx context.Context) (int, error) { return 0, ctx.Err() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
