package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// In Redis, the circuits of `breakwater run` are the fields of one hash,
// redisKey, each the JSON of a circuit as the state file holds it, so that
// every runner of a CI fleet that uses the same Redis shares them. An
// update reads a circuit and Redis's clock in one script, and writes the
// circuit back in another only if it is still what was read (a
// compare-and-set), trying again on fresher state when another invocation
// got there first: the probe lease of a half-open circuit goes to exactly
// one invocation. Every time is Redis's, so runners whose clocks disagree
// still agree on when an open circuit is due. One key holds everything, so
// Redis Cluster serves it from one slot.

// redisKey is the hash that holds the circuits.
const redisKey = "breakwater:run:circuits"

// redisTimeout bounds each call to Redis, dialling included, unless the
// URL sets its own timeouts: an unreachable Redis delays an invocation by
// about this, once, before it runs without a circuit.
const redisTimeout = time.Second

// maxConflicts bounds the compare-and-sets an update tries: each lost one
// means another invocation's update landed, so this many in a row means
// that many invocations updated one circuit meanwhile.
const maxConflicts = 100

// passwordEnv names the variable that holds the Redis password when the
// URL does not, so that it stays out of command lines and logs.
const passwordEnv = "BREAKWATER_REDIS_PASSWORD"

func isRedisURL(s string) bool {
	return strings.HasPrefix(s, "redis://") || strings.HasPrefix(s, "rediss://")
}

// redisStore keeps the circuits in Redis.
type redisStore struct {
	client *redis.Client
	where  string                           // the URL without its password
	warn   func(format string, args ...any) // reports recovered problems
}

// newRedisStore returns the store at the redis:// or rediss:// URL raw.
// getenv supplies the password when the URL has none.
func newRedisStore(raw string, getenv func(string) string, warn func(format string, args ...any)) (*redisStore, error) {
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("%v (want redis://[user:password@]host:port/db or rediss://...)", err)
	}
	if opts.Password == "" {
		opts.Password = getenv(passwordEnv)
	}
	for _, d := range []*time.Duration{&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout} {
		if *d == 0 {
			*d = redisTimeout
		}
	}
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1 // an invocation tries once, then runs without a circuit
	opts.PoolSize = 2
	where := raw
	if u, err := url.Parse(raw); err == nil {
		where = u.Redacted()
	}
	return &redisStore{client: redis.NewClient(opts), where: where, warn: warn}, nil
}

func (s *redisStore) String() string { return s.where }

func (s *redisStore) Close() error { return s.client.Close() }

// call runs f with a context bounded by the store's timeouts.
func (s *redisStore) call(f func(ctx context.Context) error) error {
	o := s.client.Options()
	ctx, cancel := context.WithTimeout(context.Background(), o.DialTimeout+o.ReadTimeout+o.WriteTimeout)
	defer cancel()
	return f(ctx)
}

// readCircuit returns the circuit's JSON (false when there is none) and
// Redis's clock.
var readCircuit = redis.NewScript(`
return {redis.call('HGET', KEYS[1], ARGV[1]), redis.call('TIME')}
`)

// writeCircuit sets the circuit ARGV[1] to ARGV[3] ("" removes it) if it
// still holds ARGV[2] ("" when it had none). It returns 1 if it did.
var writeCircuit = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if cur ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1
`)

// readAll returns every field of the hash and Redis's clock.
var readAll = redis.NewScript(`
return {redis.call('HGETALL', KEYS[1]), redis.call('TIME')}
`)

// removeCircuits removes the circuits named in ARGV, or all when there are
// none, and returns for each whether it was there (with none, how many
// there were).
var removeCircuits = redis.NewScript(`
if #ARGV == 0 then
  local n = redis.call('HLEN', KEYS[1])
  redis.call('DEL', KEYS[1])
  return {n}
end
local found = {}
for i, k in ipairs(ARGV) do found[i] = redis.call('HDEL', KEYS[1], k) end
return found
`)

func (s *redisStore) update(key string, f func(c *circuit, now time.Time) (*circuit, error)) error {
	for range maxConflicts {
		var old string
		var now time.Time
		err := s.call(func(ctx context.Context) error {
			v, err := readCircuit.Run(ctx, s.client, []string{redisKey}, key).Slice()
			if err != nil {
				return err
			}
			if len(v) != 2 {
				return fmt.Errorf("unexpected reply %v", v)
			}
			old, _ = v[0].(string)
			now, err = redisTime(v[1])
			return err
		})
		if err != nil {
			return fmt.Errorf("redis %s: %w", s.where, err)
		}
		var c *circuit
		if old != "" {
			if c, err = decodeCircuit(old); err != nil { // started afresh, as a corrupt file is
				s.warn("circuit %q in %s was corrupt (%v); started it afresh", key, s.where, err)
			}
		}
		next, err := f(c, now)
		if err != nil {
			return err
		}
		var data []byte
		if next != nil {
			if data, err = json.Marshal(next); err != nil {
				return err
			}
		}
		var done bool
		err = s.call(func(ctx context.Context) error {
			n, err := writeCircuit.Run(ctx, s.client, []string{redisKey}, key, old, string(data)).Int()
			done = n == 1
			return err
		})
		if err != nil {
			return fmt.Errorf("redis %s: %w", s.where, err)
		}
		if done {
			return nil
		}
	}
	return fmt.Errorf("redis %s: circuit %q changed under %d updates in a row", s.where, key, maxConflicts)
}

func (s *redisStore) load() (map[string]*circuit, time.Time, error) {
	var v []any
	err := s.call(func(ctx context.Context) (err error) {
		v, err = readAll.Run(ctx, s.client, []string{redisKey}).Slice()
		return err
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("redis %s: %w", s.where, err)
	}
	fields, ok := v[0].([]any)
	if len(v) != 2 || !ok || len(fields)%2 != 0 {
		return nil, time.Time{}, fmt.Errorf("redis %s: unexpected reply %v", s.where, v)
	}
	now, err := redisTime(v[1])
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("redis %s: %w", s.where, err)
	}
	circuits := make(map[string]*circuit, len(fields)/2)
	for i := 0; i < len(fields); i += 2 {
		key, _ := fields[i].(string)
		data, _ := fields[i+1].(string)
		c, err := decodeCircuit(data)
		if err != nil {
			s.warn("circuit %q in %s is corrupt (%v); the next \"breakwater run\" will start it afresh", key, s.where, err)
			continue
		}
		circuits[key] = c
	}
	return circuits, now, nil
}

func (s *redisStore) remove(all bool, keys []string) (n int, missing []string, err error) {
	if !all && len(keys) == 0 {
		return 0, nil, nil
	}
	var found []int64
	err = s.call(func(ctx context.Context) (err error) {
		args := make([]any, len(keys))
		for i, k := range keys {
			args[i] = k
		}
		if all {
			args = nil
		}
		found, err = removeCircuits.Run(ctx, s.client, []string{redisKey}, args...).Int64Slice()
		return err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("redis %s: %w", s.where, err)
	}
	if all {
		return int(found[0]), nil, nil
	}
	for i, k := range keys {
		if found[i] == 1 {
			n++
		} else {
			missing = append(missing, k)
		}
	}
	return n, missing, nil
}

// redisTime converts the reply of TIME, {seconds, microseconds}.
func redisTime(v any) (time.Time, error) {
	parts, ok := v.([]any)
	if !ok || len(parts) != 2 {
		return time.Time{}, fmt.Errorf("unexpected TIME reply %v", v)
	}
	var n [2]int64
	for i, p := range parts {
		switch p := p.(type) {
		case int64:
			n[i] = p
		case string:
			if _, err := fmt.Sscan(p, &n[i]); err != nil {
				return time.Time{}, fmt.Errorf("unexpected TIME reply %v", v)
			}
		default:
			return time.Time{}, fmt.Errorf("unexpected TIME reply %v", v)
		}
	}
	return time.Unix(n[0], n[1]*1000), nil
}

// decodeCircuit parses a circuit's JSON.
func decodeCircuit(data string) (*circuit, error) {
	var c circuit
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return nil, err
	}
	return &c, nil
}
