package ratelimit

import (
	"sort"
	"sync"
	"time"
)

// DefaultMaxKeys is the default bound of a Registry.
const DefaultMaxKeys = 10_000

// RegistryConfig describes a Registry.
type RegistryConfig struct {
	// Defaults is the Config of every limiter; each is named by its key.
	Defaults Config
	// MaxKeys bounds the limiters kept, so that keys from the outside world
	// (client addresses, hosts) cannot grow memory without end. Zero means
	// 10,000. Past it, limiters whose bucket has refilled are evicted
	// first (no different from new ones); if none has, the one closest to
	// full is: that key may then get up to a bucket more than its rate.
	MaxKeys int
}

// Registry keeps a limiter per key. It is safe for concurrent use.
type Registry struct {
	cfg     RegistryConfig
	entries sync.Map // key → *Limiter: lookups take no lock
	mu      sync.Mutex
	n       int
}

// NewRegistry returns a registry described by cfg, or a *ConfigError.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	d, err := cfg.Defaults.checked()
	if err != nil {
		return nil, err
	}
	if cfg.MaxKeys < 0 || cfg.MaxKeys > MaxBurst {
		return nil, invalid("MaxKeys", "must be in [0, %d], got %d", MaxBurst, cfg.MaxKeys)
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	cfg.Defaults = d
	return &Registry{cfg: cfg}, nil
}

// Get returns the limiter of key, making it if need be.
func (r *Registry) Get(key string) *Limiter {
	if l, ok := r.entries.Load(key); ok {
		return l.(*Limiter)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if l, ok := r.entries.Load(key); ok {
		return l.(*Limiter)
	}
	if r.n >= r.cfg.MaxKeys {
		r.evictLocked()
	}
	cfg := r.cfg.Defaults
	cfg.Name = key
	l := newLimiter(cfg)
	r.entries.Store(key, l)
	r.n++
	return l
}

// evictLocked drops every limiter whose bucket has refilled, or, if none
// has, the one closest to full.
func (r *Registry) evictLocked() {
	var closest string
	var closestAhead time.Duration = 1<<63 - 1
	r.entries.Range(func(k, v any) bool {
		l := v.(*Limiter)
		now := l.now()
		if l.full(now) {
			r.entries.Delete(k)
			r.n--
			return true
		}
		if ahead := time.Duration(l.tat.Load()) - now; ahead < closestAhead {
			closest, closestAhead = k.(string), ahead
		}
		return true
	})
	if r.n >= r.cfg.MaxKeys && closest != "" {
		r.entries.Delete(closest)
		r.n--
	}
}

// Len returns the number of limiters kept.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// All returns the limiters kept, sorted by name.
func (r *Registry) All() []*Limiter {
	var out []*Limiter
	r.entries.Range(func(_, v any) bool {
		out = append(out, v.(*Limiter))
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}
