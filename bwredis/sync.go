package bwredis

import (
	"context"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/redis/go-redis/v9"
)

// run is the Store's goroutine: it alone talks to Redis and changes local
// breakers to follow the shared state.
func (s *Store) run(ctx context.Context, pubsub *redis.PubSub) {
	defer close(s.done)
	defer pubsub.Close()
	msgs := pubsub.Channel()
	rebase := false // after an outage, counts made meanwhile are dropped
	for {
		t := s.cfg.Clock.NewTimer(s.cfg.FlushInterval)
		var reply chan error
		flush := false
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C():
			flush = true
		case reply = <-s.flushes:
			flush = true
		case m, ok := <-msgs:
			if !ok {
				msgs = nil
			} else {
				s.receive(m.Payload)
			}
		}
		t.Stop()
		err := s.round(ctx, flush, rebase)
		switch {
		case err != nil:
			s.errs.Add(1)
			rebase = true
			if s.connected.Swap(false) {
				s.log.Warn("bwredis: Redis does not answer; breakers run on their local state", "error", err)
			}
		case flush:
			s.syncs.Add(1)
			rebase = false
			if !s.connected.Swap(true) {
				s.log.Info("bwredis: Redis answers again; breakers rejoin their shared state")
			}
		}
		if reply != nil {
			reply <- err
		}
	}
}

// receive applies a published change.
func (s *Store) receive(payload string) {
	name, sh, ok := parseMessage(payload)
	if !ok {
		return
	}
	s.mu.Lock()
	c := s.circuits[name]
	attached := c != nil && c.b != nil
	s.mu.Unlock()
	if attached {
		s.applyIfNewer(c, sh)
	}
}

// round publishes pending local transitions, asks for probe leases and,
// when flush is set, flushes counts and reads the shared states. It stops
// at the first Redis error: Redis is down or slow, and the next round will
// try again.
func (s *Store) round(ctx context.Context, flush, rebase bool) error {
	s.mu.Lock()
	for _, r := range s.registries {
		for _, b := range r.Breakers() {
			if c := s.circuitLocked(b.Name()); c.b == nil {
				c.b = b
			}
		}
	}
	list := make([]*circuit, 0, len(s.circuits))
	for _, c := range s.circuits {
		if c.b != nil {
			list = append(list, c)
		}
	}
	s.mu.Unlock()
	for _, c := range list {
		if err := s.sync(ctx, c, flush, rebase); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) sync(ctx context.Context, c *circuit, flush, rebase bool) error {
	stateKey, leaseKey, windowKey := s.keys(c.name)
	nowMs := s.cfg.Clock.Now().UnixMilli()
	call := func(script *redis.Script, args ...any) (any, error) {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
		return script.Run(cctx, s.client, []string{stateKey, leaseKey}, args...).Result()
	}

	s.mu.Lock()
	pending, to, wantLease, known := c.pending, c.pendingTo, c.wantLease, c.known
	s.mu.Unlock()
	local := c.b.State()

	// A local transition the others must hear of. An echo of a change that
	// came from the shared state, or one the breaker has moved past, is
	// dropped.
	if pending {
		if local != to || known.state == to {
			s.clearPending(c, to)
		} else {
			v, err := call(transitionScript, known.gen, to.String(), nowMs, ms(s.cfg.OpenDuration), ms(s.cfg.KeyTTL),
				s.channel(), c.name, windowKey, ms(s.bucket()), s.cfg.WindowBuckets)
			if err != nil {
				return err
			}
			sh, _, err := parseShared(v)
			if err != nil {
				return err
			}
			s.mu.Lock()
			if sh.gen > c.known.gen {
				c.known = sh
			}
			s.mu.Unlock()
			if sh.state == to {
				s.clearPending(c, to)
			} // else another process got there first: try again with its generation
		}
	}

	// Half-open here: ask for the cluster's probe lease.
	if wantLease && local == breaker.HalfOpen {
		v, err := call(acquireScript, nowMs, ms(s.cfg.ProbeLease), s.token, ms(s.cfg.KeyTTL))
		if err != nil {
			return err
		}
		sh, rest, err := parseShared(v)
		if err != nil {
			return err
		}
		if len(rest) > 0 && rest[0] == 1 {
			s.mu.Lock()
			c.known, c.wantLease = sh, false
			c.lease.Store(true)
			s.mu.Unlock()
		} else if sh.state == breaker.Closed {
			s.apply(c, sh) // the cluster has closed, or has no record of the trip
		} else {
			s.applyIfNewer(c, sh)
		}
	}

	if !flush {
		return nil
	}
	m := c.b.Metrics()
	calls, failures := m.Successes+m.Failures, m.Failures
	var dCalls, dFailures uint64
	if !rebase && calls >= c.baseCalls && failures >= c.baseFailures {
		dCalls, dFailures = calls-c.baseCalls, failures-c.baseFailures
	}
	v, err := call(flushScript, windowKey, nowMs, ms(s.bucket()), s.cfg.WindowBuckets, dCalls, dFailures,
		s.cfg.FailureRate, s.cfg.MinCalls, ms(s.cfg.OpenDuration), ms(s.cfg.KeyTTL), s.channel(), c.name)
	if err != nil {
		return err
	}
	c.baseCalls, c.baseFailures = calls, failures
	sh, _, err := parseShared(v)
	if err != nil {
		return err
	}
	s.applyIfNewer(c, sh)
	return nil
}

func (s *Store) clearPending(c *circuit, to breaker.State) {
	s.mu.Lock()
	if c.pendingTo == to {
		c.pending = false
	}
	s.mu.Unlock()
}

// applyIfNewer applies sh if it is a later generation than the last seen.
func (s *Store) applyIfNewer(c *circuit, sh shared) {
	s.mu.Lock()
	newer := sh.gen > c.known.gen
	s.mu.Unlock()
	if newer {
		s.apply(c, sh)
	}
}

// apply makes the local breaker follow the shared state sh.
func (s *Store) apply(c *circuit, sh shared) {
	s.mu.Lock()
	c.known = sh
	if sh.state != breaker.HalfOpen {
		c.lease.Store(false)
	}
	if sh.state == breaker.Closed {
		c.wantLease = false
	}
	s.mu.Unlock()
	local := c.b.State()
	switch sh.state {
	case breaker.Open:
		if local == breaker.Closed || local == breaker.HalfOpen {
			c.b.Trip()
			s.applied.Add(1)
		}
	case breaker.Closed:
		if local == breaker.Open || local == breaker.HalfOpen {
			c.b.Reset()
			s.applied.Add(1)
		}
	}
}

func (s *Store) bucket() time.Duration { return s.cfg.Window / time.Duration(s.cfg.WindowBuckets) }

func ms(d time.Duration) int64 { return d.Milliseconds() }
