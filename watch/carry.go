package watch

import "sort"

// carry keeps a report's counters from ever going down. A name's counters
// are sums over the policies that share it (two registries' breakers for
// one host); when a registry evicts one of them, its counts would leave
// the sum, and a counter that falls reads as a reset: Prometheus's rate()
// invents calls, an OTel delta reader reports a negative count. carry
// remembers each policy's last counts and keeps those of a policy gone in
// its name's sums. A name with no policy left is not reported, but its
// counts are kept, so that a policy made again under it goes on from them
// (a reader that did not collect while the name was gone would see its
// series fall); the counts of the names gone longest are forgotten past
// keptGone names.
type carry[K comparable, C any] struct {
	last    map[any]carried[K, C] // each policy of the last report
	retired map[K]C               // per key, the counts of the policies gone from it
	gone    map[K]uint64          // keys with no policy left, and the report they went at
	reports uint64
}

type carried[K comparable, C any] struct {
	key K
	c   C
}

// keptGone bounds the names with no policy left whose counts are kept:
// names come from the outside world (hosts), and churn without end.
const keptGone = 10_000

// update records this report's policies (policy → its key and counts),
// and returns per key the counts of the policies gone from it, which the
// report adds to the key's sums. add adds counts to counts.
func (cr *carry[K, C]) update(now map[any]carried[K, C], add func(*C, C)) map[K]C {
	if cr.retired == nil {
		cr.retired, cr.gone = map[K]C{}, map[K]uint64{}
	}
	cr.reports++
	live := make(map[K]bool, len(now))
	for _, it := range now {
		live[it.key] = true
		delete(cr.gone, it.key)
	}
	for p, was := range cr.last {
		if _, still := now[p]; !still {
			r := cr.retired[was.key]
			add(&r, was.c)
			cr.retired[was.key] = r
			if !live[was.key] {
				cr.gone[was.key] = cr.reports
			}
		}
	}
	if len(cr.gone) > keptGone {
		cr.forgetOldest(keptGone * 3 / 4)
	}
	cr.last = now
	return cr.retired
}

// forgetOldest forgets the counts of the names gone longest, down to n.
func (cr *carry[K, C]) forgetOldest(n int) {
	keys := make([]K, 0, len(cr.gone))
	for k := range cr.gone {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return cr.gone[keys[i]] < cr.gone[keys[j]] })
	for _, k := range keys[:len(keys)-n] {
		delete(cr.gone, k)
		delete(cr.retired, k)
	}
}
