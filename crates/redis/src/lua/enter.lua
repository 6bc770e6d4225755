-- ARGV: user, now ms, a fresh random epoch. Returns `{'W', number, head, epoch, phase}`
-- (already waiting or pre-queued; counts as a heartbeat), `{'A', number, end_ms, epoch,
-- phase}` (already active), `{'N', number, head, epoch, phase}` (new) or `{'C', why, ...}`
-- (the line is closed or retired), `phase` being
-- the draw's state or ''. The epoch names this incarnation of the line (set once, by
-- the first entry): tokens are signed with it.
local usr, now = ARGV[1], tonumber(ARGV[2])
local l = life()
if l[1] then
  -- closed or retired: nobody enters, nothing is written
  return {T_CLOSED, l[2], '0', '0', ''}
end
redis.call('HSETNX', STATS, 'epoch', ARGV[3])
local epoch = redis.call('HGET', STATS, 'epoch')
freeze_if_due(now)
local phase = draw_state() or ''
local h = head()
local old = redis.call('HGET', USERS, usr)
if old and not redis.call('ZSCORE', GONE, old) then
  local s = tonumber(old)
  local p = place_of(s)
  if p == 0 or p > h then
    set_seen(s, now)
    return {T_WAITING, old, tostring(h), epoch, phase}
  end
  local first, ends = batch_of(p)
  if first and ends > now then
    return {T_ACTIVE, old, tostring(ends), epoch, phase}
  end
end
local s = redis.call('INCR', SEQ)
redis.call('HSET', USERS, usr, s)
set_seen(s, now)
redis.call('HINCRBY', STATS, 'waiting', 1)
if phase == PRE then
  redis.call('BITFIELD', ENTRANTS, 'SET', 'i64', '#' .. (s - 1), usr)
  redis.call('HINCRBY', DRAW, 'live', 1)
end
return {T_NEW, tostring(s), tostring(h), epoch, phase}
