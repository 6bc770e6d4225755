-- ARGV: now ms, idle timeout ms, EMA tau seconds, then the default policy: max_active,
-- admit_per_second, active_ttl_seconds, paused (0/1); then the inventory cap: seats
-- (-1: none), holders, inventory code ('' : unknown); then the numbers this instance
-- believes idle (each re-checked here against its last heartbeat).
-- Returns {admitted, expired_waiting, expired_active, first, last, end_ms, to_draw, life
-- state, why, since ms, dropped...}; `to_draw` is 1 while the opening was reached and the
-- draw has not run. Nobody is admitted from a closed line; a retired one is not touched.
local now, idle = tonumber(ARGV[1]), tonumber(ARGV[2])
local l = life()
if l[1] == RETIRED then
  -- its keys are deleted: write nothing
  return {0, 0, 0, 0, 0, 0, 0, l[1], l[2] or '', l[3] or '0'}
end
freeze_if_due(now)

-- 1. admission batches that ended: their remaining fans expire
local expired_active = 0
local ended = redis.call('ZRANGEBYSCORE', ENDS, '-inf', now, 'LIMIT', 0, 1000)
for _, first in ipairs(ended) do
  expired_active = expired_active + tonumber(redis.call('HGET', LEFT, first) or '0')
  local last = redis.call('ZSCORE', BATCHES, first)
  if last then
    redis.call('ZREMRANGEBYSCORE', GONE, first, last)
  end
  redis.call('HDEL', LEFT, first)
  redis.call('ZREM', BATCHES, first)
  redis.call('ZREM', ENDS, first)
end
if expired_active > 0 then
  redis.call('HINCRBY', STATS, 'active', -expired_active)
end

-- 2. idle waiters: the candidates whose last heartbeat is still too old
local h = head()
local dropped = {}
for i = 11, #ARGV do
  local s = ARGV[i]
  local p = place_of(tonumber(s))
  if (p == 0 or p > h) and not redis.call('ZSCORE', GONE, s) then
    local seen = redis.call('BITFIELD', SEEN, 'GET', 'u32', '#' .. s)[1]
    local quiet = (now - seen) % 4294967296
    -- a heartbeat 'ahead' of now (wrapped difference over half the range) is fresh
    if quiet >= idle and quiet < 2147483648 then
      redis.call('ZADD', GONE, p, s)
      if p == 0 then
        redis.call('HINCRBY', DRAW, 'live', -1)
      end
      emit('g:' .. s)
      dropped[#dropped + 1] = s
    end
  end
end
local expired_waiting = #dropped
if expired_waiting > 0 then
  redis.call('HINCRBY', STATS, 'waiting', -expired_waiting)
end
if expired_active + expired_waiting > 0 then
  redis.call('HINCRBY', STATS, 'expired_total', expired_active + expired_waiting)
end

-- 3. admission through the token bucket (thousandths of an admission: exact integers)
local p = redis.call('HMGET', POLICY, 'max_active', 'admit_per_second',
                     'active_ttl_seconds', 'paused')
local max_active, aps, ttl, paused
if p[1] and p[2] and p[3] then
  max_active, aps, ttl, paused = tonumber(p[1]), tonumber(p[2]), tonumber(p[3]), p[4] == '1'
else
  max_active, aps, ttl, paused = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]),
                                 ARGV[7] == '1'
end
local st = redis.call('HMGET', STATS, 'bucket', 'bucket_ms', 'rate', 'rate_ms',
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
  redis.call('HSET', STATS, 'inv', ARGV[10])
  emit('i:' .. ARGV[10])
end
if not paused and not l[1] and (not phase or phase == DRAWN) then
  admitted = math.max(0, math.min(math.floor(bucket / 1000), room, waiting))
end
if admitted > 0 then
  -- move the head past the next `admitted` live places: holes (gone places) are
  -- skipped, each step O(log n) whatever the batch size
  local top = tonumber(redis.call('GET', SEQ) or '0')
  last = h + admitted
  while true do
    local want = math.min(top, h + admitted + redis.call('ZCOUNT', GONE, '(' .. h, last))
    if want == last then break end
    last = want
  end
  first = h + 1
  ends = now + ttl * 1000
  redis.call('SET', HEAD, last)
  redis.call('ZADD', BATCHES, last, first)
  redis.call('ZADD', ENDS, ends, first)
  redis.call('HSET', LEFT, first, admitted)
  redis.call('HINCRBY', STATS, 'waiting', -admitted)
  redis.call('HINCRBY', STATS, 'active', admitted)
  redis.call('HINCRBY', STATS, 'admitted_total', admitted)
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
redis.call('HSET', STATS, 'bucket', bucket, 'bucket_ms', bucket_ms,
           'rate', rate, 'rate_ms', new_rate_ms, 'rate_var', var)
local to_draw = 0
if draw_state() == FROZEN then to_draw = 1 end
local out = {admitted, expired_waiting, expired_active, first, last, ends, to_draw,
             l[1] or '', l[2] or '', l[3] or '0'}
for _, s in ipairs(dropped) do
  out[#out + 1] = tonumber(s)
end
return out
