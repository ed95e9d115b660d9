package breaker

// Trip opens the circuit now, as if it had just failed: it rejects calls
// for the open duration and then lets probes through as usual.
func (b *Breaker) Trip() { b.force(Open) }

// Reset closes the circuit and clears its window, consecutive-failure count
// and open-duration growth. The lifetime counters in Metrics are kept.
// Reset also ends ForcedOpen and Disabled.
func (b *Breaker) Reset() { b.force(Closed) }

// ForceOpen rejects every call until Reset: an emergency stop for a
// dependency that must not be called.
func (b *Breaker) ForceOpen() { b.force(ForcedOpen) }

// Disable lets every call through and never trips until Reset: an
// emergency bypass. Outcomes are still counted in Metrics.
func (b *Breaker) Disable() { b.force(Disabled) }

func (b *Breaker) force(to State) {
	b.mu.Lock()
	b.setLocked(to)
	b.mu.Unlock()
	b.dispatch()
}
