//! The Lua scripts: every step that changes a concert's line is one of these, so it runs
//! atomically on one Redis (or one Cluster slot: all keys of a concert share a hash tag).
//! Each does O(1) or O(log n) work per fan *lifetime* (enter, admit, leave, drop), never
//! per poll: polls are answered from every instance's local view (see `view`).
//!
//! Every script gets the same KEYS, in this order:
//! 1 `seq` (the entry counter: fan number n holds place n), 2 `head` (every place up to
//! it has been admitted or is gone), 3 `gone` (zset of places that left or were dropped,
//! score = place; trimmed when their admission batch ends), 4 `batches` (zset: member
//! first place of an admission batch, score its last place), 5 `ends` (zset: member first
//! place of a batch, score the batch's end ms), 6 `left` (hash: first place of a batch →
//! how many of it are still active), 7 `seen` (a bitfield of one u32 per place: last
//! heartbeat ms mod 2^32), 8 `stats` (hash: waiting, active, admitted_total,
//! expired_total, token bucket, measured rate, event counter `evn`), 9 `policy` (hash),
//! 10 `events` (stream of `evn:g:place` (gone) and `evn:a:first:last:end_ms`
//! (admitted), capped), 11 the user's bucket of the `users` hash (user → place; other
//! scripts pass any bucket and do not touch it).
//! Time is the caller's `now` (ms), never `TIME`.

/// Approximate cap of the event stream: instances that fall further behind than this
/// reload a snapshot instead.
pub(crate) const STREAM_MAXLEN: u64 = 100_000;

/// Helpers shared by every script.
const COMMON: &str = r"
local function emit(e)
  local n = redis.call('HINCRBY', KEYS[8], 'evn', 1)
  redis.call('XADD', KEYS[10], 'MAXLEN', '~', STREAM_MAXLEN, '*', 'e', n .. ':' .. e)
end
local function head()
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
local function set_seen(s, now)
  redis.call('BITFIELD', KEYS[7], 'SET', 'u32', '#' .. s, now % 4294967296)
end
-- the admission batch holding place s: its first place and end ms, or nil
local function batch_of(s)
  local r = redis.call('ZRANGEBYSCORE', KEYS[4], s, '+inf', 'LIMIT', 0, 1)
  local first = r[1]
  if first and tonumber(first) <= s then
    return first, tonumber(redis.call('ZSCORE', KEYS[5], first))
  end
  return nil, nil
end
-- what a waiting fan needs for the ETA
local function eta_inputs()
  local p = redis.call('HMGET', KEYS[9], 'admit_per_second', 'paused')
  return redis.call('HGET', KEYS[8], 'rate') or '0', p[1] or '', p[2] or ''
end
";

fn script(body: &str) -> String {
    format!(
        "{}{body}",
        COMMON.replace("STREAM_MAXLEN", &STREAM_MAXLEN.to_string())
    )
}

/// ARGV: user, now ms, a fresh random epoch. Returns `{'W', place, head, epoch}`
/// (already waiting; counts as a heartbeat), `{'A', place, end_ms, epoch}` (already
/// active) or `{'N', place, head, epoch}` (new). The epoch names this incarnation of the
/// line (set once, by the first entry): tokens are signed with it.
const ENTER: &str = r"
local usr, now = ARGV[1], tonumber(ARGV[2])
redis.call('HSETNX', KEYS[8], 'epoch', ARGV[3])
local epoch = redis.call('HGET', KEYS[8], 'epoch')
local h = head()
local old = redis.call('HGET', KEYS[11], usr)
if old and not redis.call('ZSCORE', KEYS[3], old) then
  local s = tonumber(old)
  if s > h then
    set_seen(s, now)
    return {'W', old, tostring(h), epoch}
  end
  local first, ends = batch_of(s)
  if first and ends > now then
    return {'A', old, tostring(ends), epoch}
  end
end
local s = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[11], usr, s)
set_seen(s, now)
redis.call('HINCRBY', KEYS[8], 'waiting', 1)
return {'N', tostring(s), tostring(h), epoch}
";

/// ARGV: place, now ms, the epoch the token was signed for. The authoritative standing
/// of one place (the booking gate): `{'U'}` never issued in this line, `{'E'}` gone or
/// expired, `{'A', end_ms}`, or `{'W', position, rate, admit_per_second, paused}`.
const ADMISSION: &str = r"
local s, now = tonumber(ARGV[1]), tonumber(ARGV[2])
if s > tonumber(redis.call('GET', KEYS[1]) or '0')
   or redis.call('HGET', KEYS[8], 'epoch') ~= ARGV[3] then
  return {'U'}
end
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  return {'E'}
end
local h = head()
if s > h then
  local rate, aps, paused = eta_inputs()
  local position = s - h - redis.call('ZCOUNT', KEYS[3], '(' .. h, s)
  return {'W', tostring(position), rate, aps, paused}
end
local first, ends = batch_of(s)
if first and ends > now then
  return {'A', tostring(ends)}
end
return {'E'}
";

/// ARGV: place, now ms, the epoch the token was signed for. Returns `{known, changed}`:
/// a place never issued in this line is unknown; one already gone or expired changes
/// nothing.
const LEAVE: &str = r"
local s, now = tonumber(ARGV[1]), tonumber(ARGV[2])
if s > tonumber(redis.call('GET', KEYS[1]) or '0')
   or redis.call('HGET', KEYS[8], 'epoch') ~= ARGV[3] then
  return {0, 0}
end
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  return {1, 0}
end
if s > head() then
  redis.call('ZADD', KEYS[3], s, ARGV[1])
  redis.call('HINCRBY', KEYS[8], 'waiting', -1)
  emit('g:' .. ARGV[1])
  return {1, 1}
end
local first, ends = batch_of(s)
if first and ends > now then
  redis.call('ZADD', KEYS[3], s, ARGV[1])
  redis.call('HINCRBY', KEYS[6], first, -1)
  redis.call('HINCRBY', KEYS[8], 'active', -1)
  emit('g:' .. ARGV[1])
  return {1, 1}
end
return {1, 0}
";

/// ARGV: now ms, idle timeout ms, EMA tau seconds, then the default policy: max_active,
/// admit_per_second, active_ttl_seconds, paused (0/1); then the places this instance
/// believes idle (each re-checked here against its last heartbeat).
/// Returns {admitted, expired_waiting, expired_active, first, last, end_ms, dropped...}.
const TICK: &str = r"
local now, idle = tonumber(ARGV[1]), tonumber(ARGV[2])

-- 1. admission batches that ended: their remaining fans expire
local expired_active = 0
local ended = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 1000)
for _, first in ipairs(ended) do
  expired_active = expired_active + tonumber(redis.call('HGET', KEYS[6], first) or '0')
  local last = redis.call('ZSCORE', KEYS[4], first)
  if last then
    redis.call('ZREMRANGEBYSCORE', KEYS[3], first, last)
  end
  redis.call('HDEL', KEYS[6], first)
  redis.call('ZREM', KEYS[4], first)
  redis.call('ZREM', KEYS[5], first)
end
if expired_active > 0 then
  redis.call('HINCRBY', KEYS[8], 'active', -expired_active)
end

-- 2. idle waiters: the candidates whose last heartbeat is still too old
local h = head()
local dropped = {}
for i = 8, #ARGV do
  local s = ARGV[i]
  if tonumber(s) > h and not redis.call('ZSCORE', KEYS[3], s) then
    local seen = redis.call('BITFIELD', KEYS[7], 'GET', 'u32', '#' .. s)[1]
    local quiet = (now - seen) % 4294967296
    -- a heartbeat 'ahead' of now (wrapped difference over half the range) is fresh
    if quiet >= idle and quiet < 2147483648 then
      redis.call('ZADD', KEYS[3], s, s)
      emit('g:' .. s)
      dropped[#dropped + 1] = s
    end
  end
end
local expired_waiting = #dropped
if expired_waiting > 0 then
  redis.call('HINCRBY', KEYS[8], 'waiting', -expired_waiting)
end
if expired_active + expired_waiting > 0 then
  redis.call('HINCRBY', KEYS[8], 'expired_total', expired_active + expired_waiting)
end

-- 3. admission through the token bucket (thousandths of an admission: exact integers)
local p = redis.call('HMGET', KEYS[9], 'max_active', 'admit_per_second',
                     'active_ttl_seconds', 'paused')
local max_active, aps, ttl, paused
if p[1] and p[2] and p[3] then
  max_active, aps, ttl, paused = tonumber(p[1]), tonumber(p[2]), tonumber(p[3]), p[4] == '1'
else
  max_active, aps, ttl, paused = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]),
                                 ARGV[7] == '1'
end
local st = redis.call('HMGET', KEYS[8], 'bucket', 'bucket_ms', 'rate', 'rate_ms',
                      'waiting', 'active')
local capacity = aps * 1000
local bucket = capacity
local bucket_ms = now
if st[1] and st[2] then
  local last = tonumber(st[2])
  local elapsed = math.max(0, math.min(1000, now - last))
  bucket = math.min(capacity, tonumber(st[1]) + elapsed * aps)
  bucket_ms = math.max(last, now)
end
local waiting = tonumber(st[5] or '0')
local active = tonumber(st[6] or '0')
local admitted, first, last, ends = 0, 0, 0, 0
if not paused then
  admitted = math.max(0, math.min(math.floor(bucket / 1000), max_active - active, waiting))
end
if admitted > 0 then
  -- move the head past the next `admitted` live places: holes (gone places) are
  -- skipped, each step O(log n) whatever the batch size
  local top = tonumber(redis.call('GET', KEYS[1]) or '0')
  last = h + admitted
  while true do
    local want = math.min(top, h + admitted + redis.call('ZCOUNT', KEYS[3], '(' .. h, last))
    if want == last then break end
    last = want
  end
  first = h + 1
  ends = now + ttl * 1000
  redis.call('SET', KEYS[2], last)
  redis.call('ZADD', KEYS[4], last, first)
  redis.call('ZADD', KEYS[5], ends, first)
  redis.call('HSET', KEYS[6], first, admitted)
  redis.call('HINCRBY', KEYS[8], 'waiting', -admitted)
  redis.call('HINCRBY', KEYS[8], 'active', admitted)
  redis.call('HINCRBY', KEYS[8], 'admitted_total', admitted)
  emit('a:' .. first .. ':' .. last .. ':' .. ends)
  bucket = bucket - admitted * 1000
end

-- the measured rate only moves while fans wait (same formula as update_rate_ema)
local rate = tonumber(st[3] or '0') or 0
local rate_ms = tonumber(st[4] or '')
local new_rate_ms = now
if rate_ms and rate_ms >= now then
  new_rate_ms = rate_ms
elseif rate_ms and waiting > 0 then
  local elapsed = (now - rate_ms) / 1000
  local alpha = 1 - math.exp(-elapsed / tonumber(ARGV[3]))
  rate = rate + alpha * (admitted / elapsed - rate)
end
redis.call('HSET', KEYS[8], 'bucket', bucket, 'bucket_ms', bucket_ms,
           'rate', rate, 'rate_ms', new_rate_ms)
local out = {admitted, expired_waiting, expired_active, first, last, ends}
for _, s in ipairs(dropped) do
  out[#out + 1] = tonumber(s)
end
return out
";

/// ARGV: exclusive start id (`(<id>`, or `-` for all), count. Returns
/// {seq, head, evn, rate, admit_per_second, paused, epoch, then id, event pairs}.
const SYNC: &str = r"
local st = redis.call('HMGET', KEYS[8], 'evn', 'rate', 'epoch')
local p = redis.call('HMGET', KEYS[9], 'admit_per_second', 'paused')
local out = {redis.call('GET', KEYS[1]) or '0', tostring(head()), st[1] or '0',
             st[2] or '0', p[1] or '', p[2] or '', st[3] or '0'}
for _, e in ipairs(redis.call('XRANGE', KEYS[10], ARGV[1], '+', 'COUNT', ARGV[2])) do
  out[#out + 1] = e[1]
  out[#out + 1] = e[2][2]
end
return out
";

/// No ARGV. A consistent picture for an instance that starts or fell behind the stream:
/// {seq, head, evn, epoch, last stream id, batch count, (first, last, end_ms) per
/// batch, then every gone place that still matters (inside a batch or ahead of the head)}.
const SNAPSHOT: &str = r"
local st = redis.call('HMGET', KEYS[8], 'evn', 'epoch')
local out = {redis.call('GET', KEYS[1]) or '0', tostring(head()), st[1] or '0', st[2] or '0'}
local tail = redis.call('XREVRANGE', KEYS[10], '+', '-', 'COUNT', 1)
out[#out + 1] = tail[1] and tail[1][1] or '0-0'
local batches = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
out[#out + 1] = tostring(#batches / 2)
local low = head()
for i = 1, #batches, 2 do
  out[#out + 1] = batches[i]
  out[#out + 1] = batches[i + 1]
  out[#out + 1] = redis.call('ZSCORE', KEYS[5], batches[i]) or '0'
  low = math.min(low, tonumber(batches[i]) - 1)
end
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. low, '+inf')) do
  out[#out + 1] = s
end
return out
";

/// ARGV: now ms. Returns {waiting, active, admitted_total, expired_total, rate}: active
/// leaves out batches that ended but no tick has expired yet.
const STATS: &str = r"
local now = tonumber(ARGV[1])
local s = redis.call('HMGET', KEYS[8], 'waiting', 'active', 'admitted_total',
                     'expired_total', 'rate')
local active = tonumber(s[2] or '0')
for _, first in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)) do
  active = active - tonumber(redis.call('HGET', KEYS[6], first) or '0')
end
return {s[1] or '0', tostring(active), s[3] or '0', s[4] or '0', s[5] or '0'}
";

/// The scripts, with the shared helpers prepended.
use deadpool_redis::redis;

pub(crate) struct Scripts {
    pub enter: redis::Script,
    pub admission: redis::Script,
    pub leave: redis::Script,
    pub tick: redis::Script,
    pub sync: redis::Script,
    pub snapshot: redis::Script,
    pub stats: redis::Script,
}

impl Scripts {
    pub fn new() -> Self {
        let load = |body: &str| redis::Script::new(&script(body));
        Scripts {
            enter: load(ENTER),
            admission: load(ADMISSION),
            leave: load(LEAVE),
            tick: load(TICK),
            sync: load(SYNC),
            snapshot: load(SNAPSHOT),
            stats: load(STATS),
        }
    }
}
