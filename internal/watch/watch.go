// Package watch keeps the list of breakers and retry policies that a
// metrics exporter (bwprom, bwotel) reports.
package watch

import (
	"sync"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/retry"
)

// List is safe for concurrent use; its zero value is empty and ready.
type List struct {
	mu         sync.Mutex
	registries []*breaker.Registry
	breakers   []*breaker.Breaker
	retries    []*retry.Policy
}

// AddRegistry adds every breaker of r, including those created later.
func (l *List) AddRegistry(r *breaker.Registry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.registries = append(l.registries, r)
}

// AddBreaker adds b.
func (l *List) AddBreaker(b *breaker.Breaker) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.breakers = append(l.breakers, b)
}

// AddRetry adds p.
func (l *List) AddRetry(p *retry.Policy) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.retries = append(l.retries, p)
}

// Snapshot returns what the list holds now, each breaker once even if it
// was added both alone and through a registry.
func (l *List) Snapshot() ([]*breaker.Breaker, []*retry.Policy) {
	l.mu.Lock()
	all := append([]*breaker.Breaker(nil), l.breakers...)
	registries := append([]*breaker.Registry(nil), l.registries...)
	retries := append([]*retry.Policy(nil), l.retries...)
	l.mu.Unlock()
	for _, r := range registries {
		all = append(all, r.Breakers()...)
	}
	seen := make(map[*breaker.Breaker]bool, len(all))
	unique := all[:0]
	for _, b := range all {
		if !seen[b] {
			seen[b] = true
			unique = append(unique, b)
		}
	}
	return unique, retries
}
