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
		d = saturate(float64(s.Delay) + s.rand()*(hi-float64(s.Delay)))
	case s.Jitter == JitterRandom:
		d = saturate(float64(s.Delay) + s.rand()*float64(s.MaxDelay-s.Delay))
	default:
		exp := min(float64(s.Delay)*math.Pow(s.Multiplier, float64(n-1)), float64(s.MaxDelay))
		switch s.Jitter {
		case JitterProportional:
			if s.JitterDuration > 0 {
				exp += float64(s.JitterDuration) * (2*s.rand() - 1)
			} else {
				exp *= 1 - s.JitterFactor + 2*s.JitterFactor*s.rand()
			}
		case JitterFull:
			exp *= s.rand()
		case JitterEqual:
			exp = exp/2 + exp/2*s.rand()
		}
		d = saturate(exp)
	}
	return min(max(d, 0), s.MaxDelay)
}

// saturate converts a delay computed in floating point to a Duration,
// clamped to [0, math.MaxInt64] (NaN gives 0). float64(math.MaxInt64) is
// 2^63, one past the largest Duration: converting it, or anything larger,
// would overflow to a negative delay.
func saturate(f float64) time.Duration {
	switch {
	case !(f > 0): // also NaN
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	}
	return time.Duration(f)
}

// rand draws from the policy's random source, clamped to [0, 1] so that a
// source of the user's cannot push a delay out of its range.
func (s *settings) rand() float64 {
	r := s.Rand()
	if !(r >= 0) { // also NaN
		return 0
	}
	return min(r, 1)
}
