package bwredis

import "github.com/redis/go-redis/v9"

// The shared circuit lives in a hash {gen, state, until} at the state key.
// gen grows by one at every transition; every change is a compare-and-set
// on it, done inside one script, so processes racing to trip or close
// cannot corrupt the state. Every change is published on the events
// channel as "gen|state|until|name". Times are Unix milliseconds of the
// caller's clock.

// transitionScript moves the circuit to ARGV[2] if its generation is still
// ARGV[1]. It returns {gen, state, until} as they are afterwards.
//
// KEYS: state, lease. ARGV: expected gen, to, now, open ms, key TTL ms,
// channel, name, window key prefix, bucket ms, buckets.
var transitionScript = redis.NewScript(`
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local untilMs = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if gen ~= tonumber(ARGV[1]) or state == ARGV[2] then
  return {gen, state, untilMs}
end
local now = tonumber(ARGV[3])
gen = gen + 1
state = ARGV[2]
untilMs = 0
if state == 'open' then untilMs = now + tonumber(ARGV[4]) end
redis.call('HSET', KEYS[1], 'gen', gen, 'state', state, 'until', untilMs)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if state ~= 'half-open' then redis.call('DEL', KEYS[2]) end
if state == 'closed' then
  -- a closed circuit starts from an empty window, as a local one does
  local width, n = tonumber(ARGV[9]), tonumber(ARGV[10])
  local b = math.floor(now / width)
  for i = b - n, b do redis.call('DEL', ARGV[8] .. i) end
end
redis.call('PUBLISH', ARGV[6], gen .. '|' .. state .. '|' .. untilMs .. '|' .. ARGV[7])
return {gen, state, untilMs}
`)

// flushScript adds a process's calls and failures since its last flush to
// the current bucket of the cluster's window, and opens the circuit if the
// window's failure rate calls for it. It returns {gen, state, until,
// window calls, window failures, state key exists}.
//
// KEYS: state, lease. ARGV: window key prefix, now, bucket ms, buckets,
// calls, failures, failure rate, min calls, open ms, key TTL ms, channel,
// name.
var flushScript = redis.NewScript(`
local now, width, n = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local b = math.floor(now / width)
local dc, df = tonumber(ARGV[5]), tonumber(ARGV[6])
if dc > 0 then
  local k = ARGV[1] .. b
  redis.call('HINCRBY', k, 'c', dc)
  if df > 0 then redis.call('HINCRBY', k, 'f', df) end
  redis.call('PEXPIRE', k, width * (n + 1))
end
local calls, fails = 0, 0
for i = b - n + 1, b do
  local v = redis.call('HMGET', ARGV[1] .. i, 'c', 'f')
  calls = calls + tonumber(v[1] or 0)
  fails = fails + tonumber(v[2] or 0)
end
local exists = redis.call('EXISTS', KEYS[1])
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local untilMs = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if state == 'closed' and calls > 0 and calls >= tonumber(ARGV[8]) and fails / calls >= tonumber(ARGV[7]) then
  gen = gen + 1
  state = 'open'
  untilMs = now + tonumber(ARGV[9])
  redis.call('HSET', KEYS[1], 'gen', gen, 'state', state, 'until', untilMs)
  redis.call('DEL', KEYS[2])
  redis.call('PUBLISH', ARGV[11], gen .. '|' .. state .. '|' .. untilMs .. '|' .. ARGV[12])
  exists = 1
end
if exists == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[10]) end
return {gen, state, untilMs, calls, fails, exists}
`)

// acquireScript asks for the cluster's probe lease: an open circuit whose
// time is up turns half-open, and a half-open circuit grants the lease to
// one process at a time, until it expires. It returns {gen, state, until,
// granted}.
//
// KEYS: state, lease. ARGV: now, lease ms, token, key TTL ms.
var acquireScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local untilMs = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if state == 'open' and now >= untilMs then
  gen = gen + 1
  state = 'half-open'
  redis.call('HSET', KEYS[1], 'gen', gen, 'state', state)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
local granted = 0
if state == 'half-open' then
  if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[2]) then
    granted = 1
  elseif redis.call('GET', KEYS[2]) == ARGV[3] then
    granted = 1
  end
end
return {gen, state, untilMs, granted}
`)
