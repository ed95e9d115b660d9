package breaker_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
)

func TestInvalidConfigNamesTheField(t *testing.T) {
	tests := []struct {
		give  breaker.Config
		field string
	}{
		{breaker.Config{ConsecutiveFailures: -1}, "ConsecutiveFailures"},
		{breaker.Config{CountWindow: -5}, "CountWindow"},
		{breaker.Config{TimeWindow: -time.Second}, "TimeWindow"},
		{breaker.Config{CountWindow: 10, TimeWindow: time.Second}, "TimeWindow"},
		{breaker.Config{TimeWindowBuckets: 5}, "TimeWindowBuckets"},
		{breaker.Config{TimeWindow: time.Second, TimeWindowBuckets: -1}, "TimeWindowBuckets"},
		{breaker.Config{TimeWindow: 5, TimeWindowBuckets: 10}, "TimeWindowBuckets"},
		{breaker.Config{CountWindow: 10, FailureRate: 1.5}, "FailureRate"},
		{breaker.Config{CountWindow: 10, FailureRate: -0.1}, "FailureRate"},
		{breaker.Config{CountWindow: 10, FailureRate: math.NaN()}, "FailureRate"},
		{breaker.Config{FailureRate: 0.5}, "FailureRate"},
		{breaker.Config{CountWindow: 10, MinCalls: -1}, "MinCalls"},
		{breaker.Config{CountWindow: 10, MinCalls: 11}, "MinCalls"},
		{breaker.Config{MinCalls: 5}, "MinCalls"},
		{breaker.Config{SlowCallDuration: -time.Second}, "SlowCallDuration"},
		{breaker.Config{CountWindow: 10, SlowCallDuration: time.Second, SlowCallRate: 2}, "SlowCallRate"},
		{breaker.Config{CountWindow: 10, SlowCallRate: 0.5}, "SlowCallRate"},
		{breaker.Config{SlowCallDuration: time.Second, SlowCallRate: 0.5}, "SlowCallRate"},
		{breaker.Config{OpenDuration: -time.Second}, "OpenDuration"},
		{breaker.Config{OpenDurationMultiplier: 0.5}, "OpenDurationMultiplier"},
		{breaker.Config{OpenDurationMultiplier: math.Inf(1)}, "OpenDurationMultiplier"},
		{breaker.Config{MaxOpenDuration: -1}, "MaxOpenDuration"},
		{breaker.Config{OpenDuration: time.Minute, MaxOpenDuration: time.Second}, "MaxOpenDuration"},
		{breaker.Config{HalfOpenProbes: -1}, "HalfOpenProbes"},
		{breaker.Config{HalfOpenTimeout: -time.Second}, "HalfOpenTimeout"},
		{breaker.Config{HalfOpenProbes: math.MaxInt32 + 1}, "HalfOpenProbes"},
		{breaker.Config{SuccessesToClose: -2}, "SuccessesToClose"},
		{breaker.Config{FailOn: []error{nil}}, "FailOn[0]"},
		{breaker.Config{Ignore: []error{errBoom, nil}}, "Ignore[1]"},
		{breaker.Config{HalfOpenProbes: 2, SuccessesToClose: 3}, "SuccessesToClose"},
		{breaker.Config{ProbeLimit: 7}, "ProbeLimit"},
		{breaker.Config{HalfOpenFailureRate: 1.5}, "HalfOpenFailureRate"},
		{breaker.Config{HalfOpenFailureRate: 0.5, ProbeLimit: breaker.ProbesInFlight}, "HalfOpenFailureRate"},
		{breaker.Config{HalfOpenProbes: 4, HalfOpenFailureRate: 0.5, SuccessesToClose: 2}, "HalfOpenFailureRate"},
		{breaker.Config{FailureCount: 3}, "FailureCount"},
		{breaker.Config{CountWindow: 5, FailureCount: 6}, "FailureCount"},
		{breaker.Config{TimeWindow: time.Minute, FailureCount: -1}, "FailureCount"},
		{breaker.Config{ConsecutiveFailures: 3, ReadyToTrip: func(breaker.Counts) bool { return false }}, "ConsecutiveFailures"},
		{breaker.Config{CountWindow: 5, FailureRate: 0.5, ReadyToTrip: func(breaker.Counts) bool { return false }}, "ReadyToTrip"},
		{breaker.Config{InitialState: breaker.State(42)}, "InitialState"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			b, err := breaker.New(tt.give)
			if err == nil || b != nil {
				t.Fatalf("New(%+v) = %v, %v; want an error", tt.give, b, err)
			}
			var ce *breaker.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("error %q does not name field %s", err, tt.field)
			}
			if !errors.Is(err, breaker.ErrInvalidConfig) || !strings.Contains(err.Error(), "Config."+tt.field) {
				t.Fatalf("error %q: want ErrInvalidConfig and the field in the message", err)
			}
			if _, err := breaker.NewRegistry(breaker.RegistryConfig{Defaults: tt.give}); !errors.Is(err, breaker.ErrInvalidConfig) {
				t.Fatalf("NewRegistry accepted the config: %v", err)
			}
		})
	}
}

func TestValidConfigs(t *testing.T) {
	for _, cfg := range []breaker.Config{
		{},
		{CountWindow: 1},
		{CountWindow: 100, FailureRate: 1, MinCalls: 100, SlowCallDuration: time.Second, SlowCallRate: 0.1},
		{TimeWindow: time.Minute, TimeWindowBuckets: 60},
		{OpenDuration: time.Hour, OpenDurationMultiplier: 2}, // cap defaults to OpenDuration
		{HalfOpenProbes: 10, SuccessesToClose: 20, ProbeLimit: breaker.ProbesInFlight},
	} {
		if _, err := breaker.New(cfg); err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}
