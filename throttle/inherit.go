package throttle

import "slices"

// Inherit makes t carry on prev's window, as when a configuration changes
// and a new throttle takes over: when both windows have the same shape
// (Window and Buckets), the requests and accepts prev counted are t's, so
// that a throttle refusing calls goes on refusing them. Outcomes prev
// records later stay prev's. Call it before t takes calls.
func (t *Throttle) Inherit(prev *Throttle) {
	if t.cfg.Window != prev.cfg.Window || t.cfg.Buckets != prev.cfg.Buckets {
		return
	}
	prev.mu.Lock()
	prev.advanceLocked()
	buckets, head, requests, accepts, origin := slices.Clone(prev.buckets), prev.head, prev.requests, prev.accepts, prev.origin
	prev.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buckets, t.head, t.requests, t.accepts, t.origin = buckets, head, requests, accepts, origin
	t.calm.Store(t.probabilityLocked() == 0)
}
