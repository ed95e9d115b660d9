package breaker_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/config"
)

func TestInvalidConfigNamesTheField(t *testing.T) {
	tests := []struct {
		give  breaker.Config
		field string
	}{
		{breaker.Config{Trip: breaker.Consecutive(-1)}, "Trip"},
		{breaker.Config{Trip: breaker.Consecutive(1_000_000 + 1)}, "Trip"},
		{breaker.Config{Trip: breaker.TripFunc(nil)}, "Trip"},
		{breaker.Config{Trip: breaker.CountWindow{Size: -5}}, "Trip.Size"},
		{breaker.Config{Trip: breaker.CountWindow{}}, "Trip.Size"},
		{breaker.Config{Trip: breaker.TimeWindow{Length: -time.Second}}, "Trip.Length"},
		{breaker.Config{Trip: breaker.TimeWindow{}}, "Trip.Length"},
		{breaker.Config{Trip: breaker.TimeWindow{Length: time.Second, Buckets: -1}}, "Trip.Buckets"},
		{breaker.Config{Trip: breaker.TimeWindow{Length: time.Second, Buckets: 1000 + 1}}, "Trip.Buckets"},
		{breaker.Config{Trip: breaker.TimeWindow{Length: 5, Buckets: 10}}, "Trip.Buckets"},
		{breaker.Config{Trip: breaker.CountWindow{Size: 10, FailureRate: 1.5}}, "Trip.FailureRate"},
		{breaker.Config{Trip: breaker.CountWindow{Size: 10, FailureRate: -0.1}}, "Trip.FailureRate"},
		{breaker.Config{Trip: breaker.TimeWindow{Length: time.Second, FailureRate: math.NaN()}}, "Trip.FailureRate"},
		{breaker.Config{Trip: breaker.CountWindow{Size: 10, MinCalls: -1}}, "Trip.MinCalls"},
		{breaker.Config{Trip: breaker.CountWindow{Size: 10, MinCalls: 11}}, "Trip.MinCalls"},
		{breaker.Config{SlowCallDuration: -time.Second}, "SlowCallDuration"},
		{breaker.Config{Trip: breaker.CountWindow{Size: 10, SlowCallRate: 2}, SlowCallDuration: time.Second}, "Trip.SlowCallRate"},
		{breaker.Config{Trip: breaker.CountWindow{Size: 10, SlowCallRate: 0.5}}, "Trip.SlowCallRate"},
		{breaker.Config{Trip: breaker.CountWindow{Size: 10, ConsecutiveFailures: -1}}, "Trip.ConsecutiveFailures"},
		{breaker.Config{OpenDuration: -time.Second}, "OpenDuration"},
		{breaker.Config{OpenDurationMultiplier: 0.5}, "OpenDurationMultiplier"},
		{breaker.Config{OpenDurationMultiplier: math.Inf(1)}, "OpenDurationMultiplier"},
		{breaker.Config{MaxOpenDuration: -1}, "MaxOpenDuration"},
		{breaker.Config{OpenDuration: time.Minute, MaxOpenDuration: time.Second}, "MaxOpenDuration"},
		{breaker.Config{HalfOpen: breaker.Probes{Max: -1}}, "HalfOpen.Max"},
		{breaker.Config{HalfOpen: breaker.Probes{Timeout: -time.Second}}, "HalfOpen.Timeout"},
		{breaker.Config{HalfOpen: breaker.Probes{Max: math.MaxInt32 + 1}}, "HalfOpen.Max"},
		{breaker.Config{HalfOpen: breaker.Probes{SuccessesToClose: -2}}, "HalfOpen.SuccessesToClose"},
		{breaker.Config{FailOn: []error{nil}}, "FailOn[0]"},
		{breaker.Config{Ignore: []error{errBoom, nil}}, "Ignore[1]"},
		{breaker.Config{HalfOpen: breaker.Probes{Max: 2, SuccessesToClose: 3}}, "HalfOpen.SuccessesToClose"},
		{breaker.Config{HalfOpen: breaker.Probes{FailureRate: 1.5}}, "HalfOpen.FailureRate"},
		{breaker.Config{HalfOpen: breaker.Probes{InFlight: true, FailureRate: 0.5}}, "HalfOpen.FailureRate"},
		{breaker.Config{HalfOpen: breaker.Probes{Max: 4, SuccessesToClose: 2, FailureRate: 0.5}}, "HalfOpen.FailureRate"},
		{breaker.Config{Trip: breaker.CountWindow{Size: 5, FailureCount: 6}}, "Trip.FailureCount"},
		{breaker.Config{Trip: breaker.TimeWindow{Length: time.Minute, FailureCount: -1}}, "Trip.FailureCount"},
		{breaker.Config{Trip: breaker.CountWindow{Size: 5, FailureRate: 0.5, Func: func(breaker.Counts) bool { return false }}}, "Trip.Func"},
		{breaker.Config{InitialState: breaker.State(42)}, "InitialState"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			b, err := breaker.New(tt.give)
			if err == nil || b != nil {
				t.Fatalf("New(%+v) = %v, %v; want an error", tt.give, b, err)
			}
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("error %q does not name field %s", err, tt.field)
			}
			if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "Config."+tt.field) {
				t.Fatalf("error %q: want config.ErrInvalid and the field in the message", err)
			}
			if _, err := breaker.NewRegistry(tt.give, 0); !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("NewRegistry accepted the config: %v", err)
			}
		})
	}
}

func TestValidConfigs(t *testing.T) {
	for _, cfg := range []breaker.Config{
		{},
		{Trip: breaker.CountWindow{Size: 1}},
		{Trip: breaker.CountWindow{Size: 100, FailureRate: 1, MinCalls: 100, SlowCallRate: 0.1}, SlowCallDuration: time.Second},
		{Trip: breaker.TimeWindow{Length: time.Minute, Buckets: 60}},
		{Trip: breaker.TimeWindow{Length: time.Minute, Func: func(breaker.Counts) bool { return false }}},
		{Trip: breaker.TripFunc(func(breaker.Counts) bool { return false })},
		{OpenDuration: time.Hour, OpenDurationMultiplier: 2}, // cap defaults to OpenDuration
		{HalfOpen: breaker.Probes{Max: 10, SuccessesToClose: 20, InFlight: true}},
		{HalfOpen: breaker.Probes{Max: 10, FailureRate: 0.5}},
	} {
		if _, err := breaker.New(cfg); err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}
