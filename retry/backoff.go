package retry

import (
	"math"
	"time"
)

// backoff returns the delay before retry n (1 for the first retry), given
// the previous delay (zero before the first retry) and the error that
// failed the attempt. The result is capped by MaxDelay.
func (s *settings) backoff(n int, prev time.Duration, err error) time.Duration {
	var d time.Duration
	switch {
	case s.Backoff != nil:
		d = s.Backoff(n, err)
	case s.Jitter == JitterDecorrelated:
		if prev < s.Delay {
			prev = s.Delay
		}
		hi := min(float64(prev)*3, float64(s.MaxDelay))
		d = time.Duration(float64(s.Delay) + s.Rand()*(hi-float64(s.Delay)))
	default:
		exp := min(float64(s.Delay)*math.Pow(s.Multiplier, float64(n-1)), float64(s.MaxDelay))
		switch s.Jitter {
		case JitterProportional:
			exp *= 1 - s.JitterFactor + 2*s.JitterFactor*s.Rand()
		case JitterFull:
			exp *= s.Rand()
		case JitterEqual:
			exp = exp/2 + exp/2*s.Rand()
		}
		d = time.Duration(exp)
	}
	return min(max(d, 0), s.MaxDelay)
}
