package adaptive

import "math"

// Inherit makes l carry on what prev has learned, as when a configuration
// changes and a new limiter takes over: its limit (within l's MinLimit
// and MaxLimit) and its baseline round trip. Calls prev admitted stay
// prev's. Call it before l takes calls.
func (l *Limiter) Inherit(prev *Limiter) {
	prev.mu.Lock()
	estimate, baseline, updates := prev.estimate, prev.baseline, prev.updates
	prev.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.estimate = math.Min(math.Max(estimate, float64(l.cfg.MinLimit)), float64(l.cfg.MaxLimit))
	l.baseline, l.updates = baseline, updates
	l.setLimitLocked(int64(l.estimate))
}
