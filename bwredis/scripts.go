package bwredis

import "github.com/redis/go-redis/v9"

// The shared circuit lives in a hash {gen, state, until, cfg} at the state
// key. gen grows by one at every transition; every change is a
// compare-and-set on it, done inside one script, so processes racing to
// trip or close cannot corrupt the state. Every change is published on the
// events channel as "gen|state|until|tag" (tag, the hash of the circuit's
// name: see tagOf); a message is only a hint to read the state again,
// never trusted as the state itself. Times are Unix milliseconds of the
// caller's clock.
//
// Reads never create a state: a missing state (a key never written, or
// expired, evicted, lost with a restart; or holding only the settings'
// fingerprint, which the first process to read a circuit writes) is
// "unknown", not "closed". Only a transition writes one, so a process that merely has no record cannot
// close the fleet's open circuit; the processes that hold the circuit
// open write it again (see settle).
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
local recorded = 0 -- a state has been written: without one, the circuit's state is unknown
if state then recorded = 1 end
local valid = {closed=true, open=true, ['half-open']=true, ['forced-open']=true, disabled=true}
if not state or not valid[state] then state = 'closed' end
local untilMs = math.floor(tonumber(f[3]) or 0)
local cfg = f[4] or ''
`

// transitionScript moves the circuit to ARGV[2] if its generation is still
// ARGV[1] (0 for a circuit without a recorded state). It returns {gen,
// state, until, cfg, state recorded} as they are afterwards.
//
// KEYS: state, lease, the window's buckets (for a close). ARGV: expected
// gen, to, now, open ms, key TTL ms, channel, tag, cfg.
var transitionScript = redis.NewScript(readState + `
if gen ~= tonumber(ARGV[1]) or (state == ARGV[2] and recorded == 1) then
  return {gen, state, untilMs, cfg, recorded}
end
if cfg == '' then
  cfg = ARGV[8]
  redis.call('HSET', KEYS[1], 'cfg', cfg)
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
return {gen, state, untilMs, cfg, 1}
`)

// flushScript adds a process's calls and failures since its last flush to
// the current bucket of the cluster's window (by its own clock), records the
// process's config fingerprint if the circuit has none, and opens the
// circuit if the window's failure rate calls for it. It returns {gen,
// state, until, cfg, window calls, window failures, state recorded}.
//
// KEYS: state, lease, the window's buckets, oldest first, then those
// ahead of the caller's clock (MaxClockSkew). ARGV: now, bucket ms, calls,
// failures, failure rate, min calls, open ms, key TTL ms, channel, tag,
// cfg, max open ms, buckets ahead.
var flushScript = redis.NewScript(readState + `
local now, width = tonumber(ARGV[1]), tonumber(ARGV[2])
local dc, df = tonumber(ARGV[3]), tonumber(ARGV[4])
local cur = KEYS[#KEYS - (tonumber(ARGV[13]) or 0)] -- then the buckets ahead, for clocks that run ahead
if dc > 0 then
  redis.call('HINCRBY', cur, 'c', dc)
  if df > 0 then redis.call('HINCRBY', cur, 'f', df) end
  redis.call('PEXPIRE', cur, width * (#KEYS - 2)) -- the window and the buckets ahead: as long as a clock may read it
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
local existed = recorded
if cfg == '' then -- the first process to share the circuit sets its settings, and no state
  cfg = ARGV[11]
  redis.call('HSET', KEYS[1], 'cfg', cfg)
  if existed == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[8]) end
end
if state == 'open' and untilMs > now + tonumber(ARGV[12]) then untilMs = now end
if state == 'closed' and calls > 0 and calls >= tonumber(ARGV[6]) and fails / calls >= tonumber(ARGV[5]) then
  gen = gen + 1
  state = 'open'
  untilMs = now + tonumber(ARGV[7])
  redis.call('HSET', KEYS[1], 'gen', gen, 'state', state, 'until', untilMs)
  redis.call('DEL', KEYS[2])
  redis.call('PUBLISH', ARGV[9], gen .. '|' .. state .. '|' .. untilMs .. '|' .. ARGV[10])
  existed = 1
end
if existed == 1 and state ~= 'forced-open' and state ~= 'disabled' then redis.call('PEXPIRE', KEYS[1], ARGV[8]) end
return {gen, state, untilMs, cfg, calls, fails, existed}
`)

// acquireScript asks for the cluster's probe lease: an open circuit whose
// time is up (or whose end is beyond the longest open duration) turns
// half-open, and a half-open circuit grants the lease to one process at a
// time, until it expires. It returns {gen, state, until, cfg, granted,
// state recorded}.
//
// KEYS: state, lease. ARGV: now, lease ms, token, key TTL ms, max open ms,
// channel, tag.
var acquireScript = redis.NewScript(readState + `
local existed = recorded
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
return {gen, state, untilMs, cfg, granted, existed}
`)

// readScript reads a circuit's state and keeps its key alive: the cheap
// step for a circuit with nothing to report. It creates nothing. It
// returns {gen, state, until, cfg, 0, 0, state recorded}, as
// flushScript does.
//
// KEYS: state. ARGV: now, key TTL ms, max open ms, cfg.
var readScript = redis.NewScript(readState + `
local existed = recorded
if cfg == '' then -- the first process to share the circuit sets its settings, and no state
  cfg = ARGV[4]
  redis.call('HSET', KEYS[1], 'cfg', cfg)
  if existed == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
end
if state == 'open' and untilMs > tonumber(ARGV[1]) + tonumber(ARGV[3]) then untilMs = tonumber(ARGV[1]) end
if existed == 1 and state ~= 'forced-open' and state ~= 'disabled' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {gen, state, untilMs, cfg, 0, 0, existed}
`)

// takeScript takes a token from a shared rate limit, on Redis's clock:
// GCRA, the token bucket as a schedule. The key holds the theoretical
// arrival time (TAT, µs) of the next call; the bucket is full when it is
// not ahead of now. A call may go through once now >= TAT - tau (tau: the
// burst's worth of intervals beyond the first); one that would have to
// wait longer than the caller's limit takes nothing. The key expires when
// the bucket is full again. A value that is not a number, a key of another
// type or one without an expiry (not written by this script) counts as a
// full bucket, and is overwritten. It
// returns {1 if taken, wait µs, µs of tokens left after it}.
//
// KEYS: the limiter's key. ARGV: interval µs, tau µs, limit µs.
var takeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, tau, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = 0
if redis.call('PTTL', KEYS[1]) >= 0 then
  local v = redis.pcall('GET', KEYS[1]) -- a key of another type: overwritten
  if type(v) == 'string' then tat = tonumber(v) or 0 end
end
local start = math.max(tat, now)
local wait = start - now - tau
if wait > limit then
  return {0, wait, math.max(now + tau + interval - start, 0)}
end
local nextTat = start + interval
redis.call('SET', KEYS[1], string.format('%d', nextTat), 'PX', math.ceil((nextTat - now) / 1000) + 1)
return {1, math.max(wait, 0), math.max(now + tau + interval - nextTat, 0)}
`)

// scripts are loaded together when Redis reports one missing (after a
// restart or a failover).
var scripts = []*redis.Script{transitionScript, flushScript, acquireScript, readScript}
