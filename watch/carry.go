package watch

// carry keeps a report's counters from ever going down. A name's counters
// are sums over the policies that share it (two registries' breakers for
// one host); when a registry evicts one of them, its counts would leave
// the sum, and a Prometheus counter that falls reads as a reset, from
// which rate() invents calls (an OTel delta reader reports a negative
// one). carry remembers each policy's last counts and, for a policy gone
// from a key that still has others, keeps its counts in the key's sum.
// When a key has no policy left, its carried counts go with it: the
// series ends, and a later policy of the name starts a new one.
type carry[K comparable, C any] struct {
	last    map[any]carried[K, C] // each policy of the last report
	retired map[K]C               // per key, the counts of the policies gone from it
}

type carried[K comparable, C any] struct {
	key K
	c   C
}

// update records this report's policies (policy → its key and counts),
// and returns per key the counts of the policies gone from it, which the
// report adds to the key's sums. add adds counts to counts.
func (cr *carry[K, C]) update(now map[any]carried[K, C], add func(*C, C)) map[K]C {
	live := make(map[K]bool, len(now))
	for _, it := range now {
		live[it.key] = true
	}
	if cr.retired == nil {
		cr.retired = map[K]C{}
	}
	for p, was := range cr.last {
		if _, still := now[p]; !still && live[was.key] {
			r := cr.retired[was.key]
			add(&r, was.c)
			cr.retired[was.key] = r
		}
	}
	for k := range cr.retired {
		if !live[k] {
			delete(cr.retired, k)
		}
	}
	cr.last = now
	return cr.retired
}
