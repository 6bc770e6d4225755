-- Helpers shared by every script. The concert's keys (SEQ, HEAD, ... USERS) are locals
-- declared before this from KEYS, in the order of `LineKey` (keys.rs), and so are the
-- draw's phases (PRE, FROZEN, DRAWN) by their codes (`DrawPhase::code`), the reply tags
-- (T_...) by theirs (`Tag`) and the life's states (CLOSED, RETIRED) by theirs
-- (`LifeState`).
local function emit(e)
  local n = redis.call('HINCRBY', STATS, 'evn', 1)
  redis.call('XADD', EVENTS, 'MAXLEN', '~', STREAM_MAXLEN, '*', 'e', n .. ':' .. e)
end
-- the line's life: {state (CLOSED | RETIRED | nil: open), why, since ms, epoch}
local function life()
  return redis.call('HMGET', LIFE, 'state', 'why', 'at', 'epoch')
end
local function head()
  return tonumber(redis.call('GET', HEAD) or '0')
end
-- the draw's phase (nil: no pre-queue) and the count of pre-queued numbers
local function draw_state()
  local d = redis.call('HMGET', DRAW, 'state', 'k')
  return d[1], tonumber(d[2] or '0')
end
-- the place of number s: 0 while it waits for the draw
local function place_of(s)
  local st, k = draw_state()
  if not st then return s end
  if st == PRE then return 0 end
  if s > k then return s end
  if st == FROZEN then return 0 end
  return redis.call('BITFIELD_RO', PERM, 'GET', 'u32', '#' .. (s - 1))[1]
end
-- at the opening the pre-queue is frozen: numbers 1..k are drawn, later ones follow
local function freeze_if_due(now)
  local d = redis.call('HMGET', DRAW, 'state', 'opens')
  if d[1] == PRE and now >= tonumber(d[2]) then
    redis.call('HSET', DRAW, 'state', FROZEN, 'k', redis.call('GET', SEQ) or '0')
  end
end
local function set_seen(s, now)
  redis.call('BITFIELD', SEEN, 'SET', 'u32', '#' .. s, now % 4294967296)
end
-- the admission batch holding place s: its first place and end ms, or nil
local function batch_of(s)
  local r = redis.call('ZRANGEBYSCORE', BATCHES, s, '+inf', 'LIMIT', 0, 1)
  local first = r[1]
  if first and tonumber(first) <= s then
    return first, tonumber(redis.call('ZSCORE', ENDS, first))
  end
  return nil, nil
end
-- what a waiting fan needs for the ETA
local function eta_inputs()
  local p = redis.call('HMGET', POLICY, 'admit_per_second', 'paused')
  return redis.call('HGET', STATS, 'rate') or '0', p[1] or '', p[2] or ''
end
