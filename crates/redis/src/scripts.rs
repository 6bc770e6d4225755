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
//! 10 `events` (stream of `evn:g:number` (gone), `evn:a:first:last:end_ms` (admitted),
//! `evn:i:code` (inventory) and `evn:d:k` (drawn), capped), 11 `draw` (hash: `state`
//! `pre` | `frozen` | `drawn`, `opens` ms, `seed`, `commitment`, `k` entrants frozen
//! at the opening, `live` pre-queued fans, `n` fans drawn, `claim`/`claim_until` of the
//! instance drawing), 12 `perm` (one big-endian u32 per pre-queued number: its place
//! after the draw), 13 `entrants` (one i64 per pre-queued number: its user), 14 the
//! user's bucket of the `users` hash (user → number; other scripts pass any bucket and
//! do not touch it).
//!
//! Two coordinates: a fan's *number* (the token's `seq`, in order of entry) and its
//! *place* in line. They are equal except for the numbers 1..k pre-queued before the
//! opening, whose places the draw assigns (`perm`); until it runs those places are 0.
//! `seen`, `users`, `entrants` and events name numbers; `head`, `batches` and the
//! scores of `gone` (member: number, score: place) name places.
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
-- the draw's phase (nil: no pre-queue) and the count of pre-queued numbers
local function draw_state()
  local d = redis.call('HMGET', KEYS[11], 'state', 'k')
  return d[1], tonumber(d[2] or '0')
end
-- the place of number s: 0 while it waits for the draw
local function place_of(s)
  local st, k = draw_state()
  if not st then return s end
  if st == 'pre' then return 0 end
  if s > k then return s end
  if st == 'frozen' then return 0 end
  return redis.call('BITFIELD_RO', KEYS[12], 'GET', 'u32', '#' .. (s - 1))[1]
end
-- at the opening the pre-queue is frozen: numbers 1..k are drawn, later ones follow
local function freeze_if_due(now)
  local d = redis.call('HMGET', KEYS[11], 'state', 'opens')
  if d[1] == 'pre' and now >= tonumber(d[2]) then
    redis.call('HSET', KEYS[11], 'state', 'frozen', 'k', redis.call('GET', KEYS[1]) or '0')
  end
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

/// ARGV: user, now ms, a fresh random epoch. Returns `{'W', number, head, epoch, phase}`
/// (already waiting or pre-queued; counts as a heartbeat), `{'A', number, end_ms, epoch,
/// phase}` (already active) or `{'N', number, head, epoch, phase}` (new), `phase` being
/// the draw's state or ''. The epoch names this incarnation of the line (set once, by
/// the first entry): tokens are signed with it.
const ENTER: &str = r"
local usr, now = ARGV[1], tonumber(ARGV[2])
redis.call('HSETNX', KEYS[8], 'epoch', ARGV[3])
local epoch = redis.call('HGET', KEYS[8], 'epoch')
freeze_if_due(now)
local phase = draw_state() or ''
local h = head()
local old = redis.call('HGET', KEYS[14], usr)
if old and not redis.call('ZSCORE', KEYS[3], old) then
  local s = tonumber(old)
  local p = place_of(s)
  if p == 0 or p > h then
    set_seen(s, now)
    return {'W', old, tostring(h), epoch, phase}
  end
  local first, ends = batch_of(p)
  if first and ends > now then
    return {'A', old, tostring(ends), epoch, phase}
  end
end
local s = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[14], usr, s)
set_seen(s, now)
redis.call('HINCRBY', KEYS[8], 'waiting', 1)
if phase == 'pre' then
  redis.call('BITFIELD', KEYS[13], 'SET', 'i64', '#' .. (s - 1), usr)
  redis.call('HINCRBY', KEYS[11], 'live', 1)
end
return {'N', tostring(s), tostring(h), epoch, phase}
";

/// ARGV: number, now ms, the epoch the token was signed for. The authoritative standing
/// of one number (the booking gate): `{'U'}` never issued in this line, `{'E'}` gone or
/// expired, `{'P'}` pre-queued, `{'A', end_ms}`, or `{'W', position, rate,
/// admit_per_second, paused}`.
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
local p = place_of(s)
if p == 0 then
  return {'P'}
end
if p > h then
  local rate, aps, paused = eta_inputs()
  local position = p - h - redis.call('ZCOUNT', KEYS[3], '(' .. h, p)
  if draw_state() == 'frozen' then
    -- pre-queued fans who left before the draw have no place yet
    position = position - redis.call('ZCOUNT', KEYS[3], 0, 0)
  end
  return {'W', tostring(position), rate, aps, paused}
end
local first, ends = batch_of(p)
if first and ends > now then
  return {'A', tostring(ends)}
end
return {'E'}
";

/// ARGV: number, now ms, the epoch the token was signed for. Returns `{known, changed}`:
/// a number never issued in this line is unknown; one already gone or expired changes
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
local p = place_of(s)
if p == 0 or p > head() then
  redis.call('ZADD', KEYS[3], p, ARGV[1])
  redis.call('HINCRBY', KEYS[8], 'waiting', -1)
  if p == 0 then
    redis.call('HINCRBY', KEYS[11], 'live', -1)
  end
  emit('g:' .. ARGV[1])
  return {1, 1}
end
local first, ends = batch_of(p)
if first and ends > now then
  redis.call('ZADD', KEYS[3], p, ARGV[1])
  redis.call('HINCRBY', KEYS[6], first, -1)
  redis.call('HINCRBY', KEYS[8], 'active', -1)
  emit('g:' .. ARGV[1])
  return {1, 1}
end
return {1, 0}
";

/// ARGV: now ms, idle timeout ms, EMA tau seconds, then the default policy: max_active,
/// admit_per_second, active_ttl_seconds, paused (0/1); then the inventory cap: seats
/// (-1: none), holders, inventory code ('' : unknown); then the numbers this instance
/// believes idle (each re-checked here against its last heartbeat).
/// Returns {admitted, expired_waiting, expired_active, first, last, end_ms, to_draw,
/// dropped...}; `to_draw` is 1 while the opening was reached and the draw has not run.
const TICK: &str = r"
local now, idle = tonumber(ARGV[1]), tonumber(ARGV[2])
freeze_if_due(now)

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
for i = 11, #ARGV do
  local s = ARGV[i]
  local p = place_of(tonumber(s))
  if (p == 0 or p > h) and not redis.call('ZSCORE', KEYS[3], s) then
    local seen = redis.call('BITFIELD', KEYS[7], 'GET', 'u32', '#' .. s)[1]
    local quiet = (now - seen) % 4294967296
    -- a heartbeat 'ahead' of now (wrapped difference over half the range) is fresh
    if quiet >= idle and quiet < 2147483648 then
      redis.call('ZADD', KEYS[3], p, s)
      if p == 0 then
        redis.call('HINCRBY', KEYS[11], 'live', -1)
      end
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
                      'waiting', 'active', 'rate_var', 'inv')
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
local phase = draw_state()
local room = max_active - active
local cap = tonumber(ARGV[8])
if cap >= 0 then
  room = math.min(room, cap - math.max(0, active - tonumber(ARGV[9])))
end
if ARGV[10] ~= '' and st[8] ~= ARGV[10] then
  redis.call('HSET', KEYS[8], 'inv', ARGV[10])
  emit('i:' .. ARGV[10])
end
if not paused and (not phase or phase == 'drawn') then
  admitted = math.max(0, math.min(math.floor(bucket / 1000), room, waiting))
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
-- and its variance (same formulas as update_rate_ema and update_rate_var)
local rate = tonumber(st[3] or '0') or 0
local rate_ms = tonumber(st[4] or '')
local var = tonumber(st[7] or '0') or 0
local new_rate_ms = now
if rate_ms and rate_ms >= now then
  new_rate_ms = rate_ms
elseif rate_ms and waiting > 0 then
  local elapsed = (now - rate_ms) / 1000
  local alpha = 1 - math.exp(-elapsed / tonumber(ARGV[3]))
  local d = admitted / elapsed - rate
  var = var + alpha * (d * d - var)
  rate = rate + alpha * d
end
redis.call('HSET', KEYS[8], 'bucket', bucket, 'bucket_ms', bucket_ms,
           'rate', rate, 'rate_ms', new_rate_ms, 'rate_var', var)
local to_draw = 0
if draw_state() == 'frozen' then to_draw = 1 end
local out = {admitted, expired_waiting, expired_active, first, last, ends, to_draw}
for _, s in ipairs(dropped) do
  out[#out + 1] = tonumber(s)
end
return out
";

/// ARGV: exclusive start id (`(<id>`, or `-` for all), count. Returns
/// {seq, head, evn, rate, admit_per_second, paused, epoch, rate variance, inventory,
/// draw state, k, opens ms, then id, event pairs}.
const SYNC: &str = r"
local st = redis.call('HMGET', KEYS[8], 'evn', 'rate', 'epoch', 'rate_var', 'inv')
local p = redis.call('HMGET', KEYS[9], 'admit_per_second', 'paused')
local d = redis.call('HMGET', KEYS[11], 'state', 'k', 'opens')
local out = {redis.call('GET', KEYS[1]) or '0', tostring(head()), st[1] or '0',
             st[2] or '0', p[1] or '', p[2] or '', st[3] or '0', st[4] or '0', st[5] or '',
             d[1] or '', d[2] or '0', d[3] or '0'}
for _, e in ipairs(redis.call('XRANGE', KEYS[10], ARGV[1], '+', 'COUNT', ARGV[2])) do
  out[#out + 1] = e[1]
  out[#out + 1] = e[2][2]
end
return out
";

/// No ARGV. A consistent picture for an instance that starts or fell behind the stream:
/// {seq, head, evn, epoch, last stream id, draw state, k, opens ms, inventory, batch
/// count, (first, last, end_ms) per batch, then every gone number that still matters
/// (inside a batch, ahead of the head, or not yet placed by the draw)}.
const SNAPSHOT: &str = r"
local st = redis.call('HMGET', KEYS[8], 'evn', 'epoch', 'inv')
local out = {redis.call('GET', KEYS[1]) or '0', tostring(head()), st[1] or '0', st[2] or '0'}
local tail = redis.call('XREVRANGE', KEYS[10], '+', '-', 'COUNT', 1)
out[#out + 1] = tail[1] and tail[1][1] or '0-0'
local d = redis.call('HMGET', KEYS[11], 'state', 'k', 'opens')
out[#out + 1] = d[1] or ''
out[#out + 1] = d[2] or '0'
out[#out + 1] = d[3] or '0'
out[#out + 1] = st[3] or ''
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
-- pre-queued fans who left before the draw placed them (score 0, left out above)
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], 0, 0)) do
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

/// ARGV: opens ms, seed hex, commitment. Creates the pre-queue and its draw on a line
/// nobody entered (`C`), moves the opening of one not yet frozen (`M`), leaves a frozen
/// or drawn one alone (`F`), or refuses a line fans entered without a pre-queue (`R`).
const DRAW_OPEN: &str = r"
local st = draw_state()
if not st then
  if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
    return 'R'
  end
  redis.call('HSET', KEYS[11], 'state', 'pre', 'opens', ARGV[1], 'seed', ARGV[2],
             'commitment', ARGV[3], 'live', 0)
  return 'C'
end
if st == 'pre' then
  redis.call('HSET', KEYS[11], 'opens', ARGV[1])
  return 'M'
end
return 'F'
";

/// ARGV: owner id, now ms, claim ms. Claims the draw for one caller: returns
/// `{1, seed, k, epoch, left...}` (the pre-queued numbers that left) to the one caller
/// that may draw now, `{0}` to any other (not frozen, or another caller's claim is live).
const DRAW_CLAIM: &str = r"
local now = tonumber(ARGV[2])
local d = redis.call('HMGET', KEYS[11], 'state', 'claim_until', 'seed', 'k')
if d[1] ~= 'frozen' or tonumber(d[2] or '0') > now then
  return {0}
end
redis.call('HSET', KEYS[11], 'claim', ARGV[1], 'claim_until', now + tonumber(ARGV[3]))
local out = {1, d[3], d[4], redis.call('HGET', KEYS[8], 'epoch') or '0'}
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], 0, 0)) do
  out[#out + 1] = s
end
return out
";

/// ARGV: owner id, fans drawn. Completes the claimed draw once `perm` is stored: places
/// the pre-queued fans who left, reveals the draw. Returns 1, or 0 when the claim was
/// lost (nothing changes then).
const DRAW_FINISH: &str = r"
local d = redis.call('HMGET', KEYS[11], 'state', 'claim', 'k')
if d[1] ~= 'frozen' or d[2] ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[11], 'state', 'drawn', 'n', ARGV[2])
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], 0, 0)) do
  redis.call('ZADD', KEYS[3], place_of(tonumber(s)), s)
end
emit('d:' .. d[3])
return 1
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
    pub draw_open: redis::Script,
    pub draw_claim: redis::Script,
    pub draw_finish: redis::Script,
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
            draw_open: load(DRAW_OPEN),
            draw_claim: load(DRAW_CLAIM),
            draw_finish: load(DRAW_FINISH),
        }
    }
}
