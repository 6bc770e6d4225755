-- ARGV: number, now ms, the epoch the token was signed for. The authoritative standing
-- of one number (the booking gate): `{'U'}` never issued in this line, `{'E'}` gone or
-- expired, `{'P'}` pre-queued, `{'C', why}` in line (or any number) of a closed (retired)
-- line, `{'A', end_ms}`, or `{'W', position, rate,
-- admit_per_second, paused}`.
local s, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local l = life()
if l[1] == RETIRED then
  return {T_CLOSED, l[2]}
end
if s > tonumber(redis.call('GET', SEQ) or '0')
   or redis.call('HGET', STATS, 'epoch') ~= ARGV[3] then
  return {T_UNKNOWN}
end
if redis.call('ZSCORE', GONE, ARGV[1]) then
  return {T_EXPIRED}
end
local h = head()
local p = place_of(s)
if (p == 0 or p > h) and l[1] then
  -- closed: fans still in line read how it ended
  return {T_CLOSED, l[2]}
end
if p == 0 then
  return {T_PRE_QUEUE}
end
if p > h then
  local rate, aps, paused = eta_inputs()
  local position = p - h - redis.call('ZCOUNT', GONE, '(' .. h, p)
  if draw_state() == FROZEN then
    -- pre-queued fans who left before the draw have no place yet
    position = position - redis.call('ZCOUNT', GONE, 0, 0)
  end
  return {T_WAITING, tostring(position), rate, aps, paused}
end
local first, ends = batch_of(p)
if first and ends > now then
  return {T_ACTIVE, tostring(ends)}
end
return {T_EXPIRED}
