//! The Lua scripts: every multi-key step of the waiting room is one of these, so it runs
//! atomically on one Redis (or one Cluster slot: all keys of a concert share a hash tag).
//!
//! Every script gets the same KEYS, in this order:
//! 1 `line` (zset token → entry sequence), 2 `seen` (zset token → last poll ms),
//! 3 `active` (zset token → end ms), 4 `users` (hash user → token),
//! 5 `tokens` (hash token → user), 6 `stats` (hash), 7 `policy` (hash), 8 `seq` (counter).
//! Values are plain numbers and strings. Time is the caller's `now` (ms), never `TIME`.

/// The tail every ticket-returning script appends: what the caller needs for the ETA.
const TICKET: &str = r"
local function ticket(state, tok, usr, n, created)
  if state ~= 'W' then
    -- only a waiting ticket has an ETA: skip the rate and policy reads
    return {state, tok, usr, tostring(n), created, '0', '', ''}
  end
  local p = redis.call('HMGET', KEYS[7], 'admit_per_second', 'paused')
  return {state, tok, usr, tostring(n), created,
          redis.call('HGET', KEYS[6], 'rate') or '0', p[1] or '', p[2] or ''}
end
";

/// ARGV: user, fresh token, now ms.
pub(crate) const ENTER: &str = r"
local usr, now = ARGV[1], tonumber(ARGV[3])
local old = redis.call('HGET', KEYS[4], usr)
if old then
  local r = redis.call('ZRANK', KEYS[1], old)
  if r then
    redis.call('ZADD', KEYS[2], 'XX', 'GT', now, old)
    return ticket('W', old, usr, r + 1, '0')
  end
  local u = redis.call('ZSCORE', KEYS[3], old)
  if u then
    if tonumber(u) > now then
      return ticket('A', old, usr, u, '0')
    end
    -- ran out but not swept yet: it expires now, counted once
    redis.call('ZREM', KEYS[3], old)
    redis.call('HINCRBY', KEYS[6], 'expired_total', 1)
  end
end
local tok = ARGV[2]
local s = redis.call('INCR', KEYS[8])
redis.call('ZADD', KEYS[1], s, tok)
redis.call('ZADD', KEYS[2], now, tok)
redis.call('HSET', KEYS[4], usr, tok)
redis.call('HSET', KEYS[5], tok, usr)
return ticket('W', tok, usr, redis.call('ZCARD', KEYS[1]), '1')
";

/// ARGV: token, now ms. Polling a waiting token is its heartbeat.
pub(crate) const STATUS: &str = r"
local tok, now = ARGV[1], tonumber(ARGV[2])
local usr = redis.call('HGET', KEYS[5], tok)
if not usr then
  return {'U'}
end
local r = redis.call('ZRANK', KEYS[1], tok)
if r then
  redis.call('ZADD', KEYS[2], 'XX', 'GT', now, tok)
  return ticket('W', tok, usr, r + 1, '0')
end
local u = redis.call('ZSCORE', KEYS[3], tok)
if u and tonumber(u) > now then
  return ticket('A', tok, usr, u, '0')
end
return ticket('E', tok, usr, 0, '0')
";

/// ARGV: token. Returns 0 for an unknown token.
pub(crate) const LEAVE: &str = r"
if redis.call('HEXISTS', KEYS[5], ARGV[1]) == 0 then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
";

/// ARGV: now ms, idle timeout ms, max idle expiries, EMA tau seconds, then the default
/// policy: max_active, admit_per_second, active_ttl_seconds, paused (0/1).
/// Returns {admitted, expired_waiting, expired_active}.
pub(crate) const TICK: &str = r"
local now = tonumber(ARGV[1])
local CHUNK = 1000

-- 1. active tokens past their end
local expired_active = redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)

-- 2. idle waiters, bounded per tick; unpack in chunks (Lua's stack is small).
-- Admission leaves its tokens in `seen` (cheaper for big ticks): such stale entries
-- are dropped here without counting.
local expired_waiting = 0
local limit = tonumber(ARGV[3])
if limit > 0 then
  local idle = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]),
                          'LIMIT', 0, limit)
  for i = 1, #idle, CHUNK do
    local j = math.min(i + CHUNK - 1, #idle)
    expired_waiting = expired_waiting + redis.call('ZREM', KEYS[1], unpack(idle, i, j))
    redis.call('ZREM', KEYS[2], unpack(idle, i, j))
  end
end
if expired_active + expired_waiting > 0 then
  redis.call('HINCRBY', KEYS[6], 'expired_total', expired_active + expired_waiting)
end

-- 3. admission through the token bucket (thousandths of an admission: exact integers)
local p = redis.call('HMGET', KEYS[7], 'max_active', 'admit_per_second',
                     'active_ttl_seconds', 'paused')
local max_active, aps, ttl, paused
if p[1] and p[2] and p[3] then
  max_active, aps, ttl, paused = tonumber(p[1]), tonumber(p[2]), tonumber(p[3]), p[4] == '1'
else
  max_active, aps, ttl, paused = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]),
                                 ARGV[8] == '1'
end
local st = redis.call('HMGET', KEYS[6], 'bucket', 'bucket_ms', 'rate', 'rate_ms')
local capacity = aps * 1000
local bucket = capacity
local bucket_ms = now
if st[1] and st[2] then
  local last = tonumber(st[2])
  local elapsed = math.max(0, math.min(1000, now - last))
  bucket = math.min(capacity, tonumber(st[1]) + elapsed * aps)
  bucket_ms = math.max(last, now)
end

local waiting = redis.call('ZCARD', KEYS[1])
local admitted = 0
if not paused then
  local room = max_active - redis.call('ZCARD', KEYS[3])
  admitted = math.max(0, math.min(math.floor(bucket / 1000), room, waiting))
  if admitted > 0 then
    local popped = redis.call('ZPOPMIN', KEYS[1], admitted)
    local ends = now + ttl * 1000
    -- ZPOPMIN's reply alternates member, score: overwrite each score with the end
    -- time and ZADD the pairs back-to-front (score first) in chunks.
    for i = 2, #popped, 2 do
      popped[i] = popped[i - 1]
      popped[i - 1] = ends
    end
    for i = 1, #popped, 2 * CHUNK do
      redis.call('ZADD', KEYS[3], unpack(popped, i, math.min(i + 2 * CHUNK - 1, #popped)))
    end
    bucket = bucket - admitted * 1000
    redis.call('HINCRBY', KEYS[6], 'admitted_total', admitted)
  end
end

-- the measured rate only moves while fans wait (same formula as update_rate_ema)
local rate = tonumber(st[3] or '0') or 0
local rate_ms = tonumber(st[4] or '')
local new_rate_ms = now
if rate_ms and rate_ms >= now then
  new_rate_ms = rate_ms
elseif rate_ms and waiting > 0 then
  local elapsed = (now - rate_ms) / 1000
  local alpha = 1 - math.exp(-elapsed / tonumber(ARGV[4]))
  rate = rate + alpha * (admitted / elapsed - rate)
end
redis.call('HSET', KEYS[6], 'bucket', bucket, 'bucket_ms', bucket_ms,
           'rate', rate, 'rate_ms', new_rate_ms)
return {admitted, expired_waiting, expired_active}
";

/// ARGV: now ms. Returns {waiting, active, admitted_total, expired_total, rate} as strings.
pub(crate) const STATS: &str = r"
local s = redis.call('HMGET', KEYS[6], 'admitted_total', 'expired_total', 'rate')
return {tostring(redis.call('ZCARD', KEYS[1])),
        tostring(redis.call('ZCOUNT', KEYS[3], '(' .. ARGV[1], '+inf')),
        s[1] or '0', s[2] or '0', s[3] or '0'}
";

/// Prepends the shared helpers to a script that returns tickets.
pub(crate) fn with_ticket(body: &str) -> String {
    format!("{TICKET}{body}")
}
