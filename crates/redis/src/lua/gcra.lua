-- GCRA (the generic cell rate algorithm, `frontrow_domain::gcra`): the key holds the
-- theoretical arrival time (TAT) in ms. ARGV: emission interval ms, burst, and
-- optionally now ms (only tests pass it; otherwise Redis's own clock, so instances with
-- skewed clocks agree). Returns `{1, 0}` when allowed (and moves the TAT on), `{0, ms
-- to wait}` when not (and changes nothing).
local now
if ARGV[3] then
  now = tonumber(ARGV[3])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local period = tonumber(ARGV[1])
local tolerance = period * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait > 0 then
  return {0, wait}
end
local new_tat = tat + period
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return {1, 0}
