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
