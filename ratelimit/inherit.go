package ratelimit

import "time"

// Inherit makes l carry on prev's schedule, as when a configuration
// changes and a new limiter takes over: the tokens prev's bucket holds now
// (at most l's Burst) are l's, and so is a debt of calls prev scheduled
// ahead (at most a Burst of them), counted at l's rate. Calls waiting on
// prev keep their turns there. Call it before l takes calls.
func (l *Limiter) Inherit(prev *Limiter) {
	// The schedule is read before the clock: a reader held up between the
	// two readings then counts the tokens of the time that passed, not a
	// debt of the calls others took meanwhile.
	tat := time.Duration(prev.tat.Load())
	held := float64(prev.now()+prev.tau+prev.interval-tat) / float64(prev.interval)
	burst := float64(l.cfg.Burst)
	held = min(max(held, -burst), burst)
	l.tat.Store(int64(l.now() + l.tau + l.interval - time.Duration(held*float64(l.interval))))
}
