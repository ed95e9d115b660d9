package bwredis

import "github.com/redis/go-redis/v9"

// The shared circuit lives in a hash {gen, state, until, cfg} at the state
// key. gen grows by one at every transition; every change is a
// compare-and-set on it, done inside one script, so processes racing to
// trip or close cannot corrupt the state. Every change is published on the
// events channel as "gen|state|until|name"; a message is only a hint to
// read the state again, never trusted as the state itself. Times are Unix
// milliseconds of the caller's clock.
//
// Every key a script touches is passed in KEYS (state, lease, then the
// window's bucket keys), as Redis Cluster requires; they share the
// circuit's hash tag, so they live in one slot.
//
// What a script reads is validated: a field that is not a number counts as
// 0, a state that is not one of the names counts as closed, an open state
// whose end lies beyond the longest open duration is due now. A key of the
// wrong type is an error for that circuit alone.

// readState is the common prologue: it checks the state key's type and
// reads {gen, state, until, cfg}.
const readState = `
local t = redis.call('TYPE', KEYS[1]).ok
if t ~= 'hash' and t ~= 'none' then
  return redis.error_reply('BWSTATE state key holds a ' .. t)
end
local f = redis.call('HMGET', KEYS[1], 'gen', 'state', 'until', 'cfg')
local gen = math.floor(tonumber(f[1]) or 0)
local state = f[2]
local valid = {closed=true, open=true, ['half-open']=true, ['forced-open']=true, disabled=true}
if not state or not valid[state] then state = 'closed' end
local untilMs = math.floor(tonumber(f[3]) or 0)
local cfg = f[4] or ''
`

// transitionScript moves the circuit to ARGV[2] if its generation is still
// ARGV[1]. It returns {gen, state, until, cfg} as they are afterwards.
//
// KEYS: state, lease, the window's buckets (for a close). ARGV: expected
// gen, to, now, open ms, key TTL ms, channel, name.
var transitionScript = redis.NewScript(readState + `
if gen ~= tonumber(ARGV[1]) or state == ARGV[2] then
  return {gen, state, untilMs, cfg}
end
local now = tonumber(ARGV[3])
gen = gen + 1
state = ARGV[2]
untilMs = 0
if state == 'open' then untilMs = now + tonumber(ARGV[4]) end
redis.call('HSET', KEYS[1], 'gen', gen, 'state', state, 'until', untilMs)
if state == 'forced-open' or state == 'disabled' then
  redis.call('PERSIST', KEYS[1]) -- an operator's choice outlives idle time
else
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
if state ~= 'half-open' then redis.call('DEL', KEYS[2]) end
if state == 'closed' then
  -- a closed circuit starts from an empty window, as a local one does
  for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
end
redis.call('PUBLISH', ARGV[6], gen .. '|' .. state .. '|' .. untilMs .. '|' .. ARGV[7])
return {gen, state, untilMs, cfg}
`)

// flushScript adds a process's calls and failures since its last flush to
// the current bucket of the cluster's window (the last key), records the
// process's config fingerprint if the circuit has none, and opens the
// circuit if the window's failure rate calls for it. It returns {gen,
// state, until, cfg, window calls, window failures, state key exists}.
//
// KEYS: state, lease, the window's buckets, oldest first. ARGV: now,
// bucket ms, calls, failures, failure rate, min calls, open ms, key TTL
// ms, channel, name, cfg, max open ms.
var flushScript = redis.NewScript(readState + `
local now, width = tonumber(ARGV[1]), tonumber(ARGV[2])
local dc, df = tonumber(ARGV[3]), tonumber(ARGV[4])
local cur = KEYS[#KEYS]
if dc > 0 then
  redis.call('HINCRBY', cur, 'c', dc)
  if df > 0 then redis.call('HINCRBY', cur, 'f', df) end
  redis.call('PEXPIRE', cur, width * (#KEYS - 1))
end
local calls, fails = 0, 0
if dc > 0 then -- without new calls the window cannot newly trip: a read stays cheap
  for i = 3, #KEYS do
    if redis.call('TYPE', KEYS[i]).ok == 'hash' then
      local v = redis.call('HMGET', KEYS[i], 'c', 'f')
      calls = calls + math.max(tonumber(v[1]) or 0, 0)
      fails = fails + math.max(tonumber(v[2]) or 0, 0)
    end
  end
  fails = math.min(fails, calls)
end
local existed = redis.call('EXISTS', KEYS[1])
if cfg == '' then
  cfg = ARGV[11]
  redis.call('HSET', KEYS[1], 'cfg', cfg)
  if existed == 0 then redis.call('HSET', KEYS[1], 'gen', gen, 'state', state, 'until', untilMs) end
end
if state == 'open' and untilMs > now + tonumber(ARGV[12]) then untilMs = now end
if state == 'closed' and calls > 0 and calls >= tonumber(ARGV[6]) and fails / calls >= tonumber(ARGV[5]) then
  gen = gen + 1
  state = 'open'
  untilMs = now + tonumber(ARGV[7])
  redis.call('HSET', KEYS[1], 'gen', gen, 'state', state, 'until', untilMs)
  redis.call('DEL', KEYS[2])
  redis.call('PUBLISH', ARGV[9], gen .. '|' .. state .. '|' .. untilMs .. '|' .. ARGV[10])
end
if state ~= 'forced-open' and state ~= 'disabled' then redis.call('PEXPIRE', KEYS[1], ARGV[8]) end
return {gen, state, untilMs, cfg, calls, fails, existed}
`)

// acquireScript asks for the cluster's probe lease: an open circuit whose
// time is up (or whose end is beyond the longest open duration) turns
// half-open, and a half-open circuit grants the lease to one process at a
// time, until it expires. It returns {gen, state, until, cfg, granted}.
//
// KEYS: state, lease. ARGV: now, lease ms, token, key TTL ms, max open ms,
// channel, name.
var acquireScript = redis.NewScript(readState + `
local now = tonumber(ARGV[1])
if state == 'open' and (now >= untilMs or untilMs > now + tonumber(ARGV[5])) then
  gen = gen + 1
  state = 'half-open'
  redis.call('HSET', KEYS[1], 'gen', gen, 'state', state)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('PUBLISH', ARGV[6], gen .. '|' .. state .. '|' .. untilMs .. '|' .. ARGV[7])
end
local granted = 0
if state == 'half-open' then
  if redis.call('TYPE', KEYS[2]).ok == 'none' then
    redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
    granted = 1
  elseif redis.call('TYPE', KEYS[2]).ok == 'string' and redis.call('GET', KEYS[2]) == ARGV[3] then
    granted = 1
  end
end
return {gen, state, untilMs, cfg, granted}
`)

// readScript reads a circuit's state and keeps its key alive: the cheap
// step for a circuit with nothing to report. It returns {gen, state,
// until, cfg, 0, 0, state key exists}, as flushScript does.
//
// KEYS: state. ARGV: now, key TTL ms, max open ms, cfg.
var readScript = redis.NewScript(readState + `
local existed = redis.call('EXISTS', KEYS[1])
if cfg == '' then -- the first process to share the circuit sets its settings
  cfg = ARGV[4]
  redis.call('HSET', KEYS[1], 'cfg', cfg)
  if existed == 0 then redis.call('HSET', KEYS[1], 'gen', gen, 'state', state, 'until', untilMs) end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if state == 'open' and untilMs > tonumber(ARGV[1]) + tonumber(ARGV[3]) then untilMs = tonumber(ARGV[1]) end
if existed == 1 and state ~= 'forced-open' and state ~= 'disabled' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {gen, state, untilMs, cfg, 0, 0, existed}
`)

// scripts are loaded together when Redis reports one missing (after a
// restart or a failover).
var scripts = []*redis.Script{transitionScript, flushScript, acquireScript, readScript}
