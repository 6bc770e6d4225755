-- ARGV: owner id, fans drawn. Completes the claimed draw once `perm` is stored: places
-- the pre-queued fans who left, reveals the draw. Returns 1, or 0 when the claim was
-- lost (nothing changes then).
local d = redis.call('HMGET', DRAW, 'state', 'claim', 'k')
if d[1] ~= FROZEN or d[2] ~= ARGV[1] then
  return 0
end
redis.call('HSET', DRAW, 'state', DRAWN, 'n', ARGV[2])
for _, s in ipairs(redis.call('ZRANGEBYSCORE', GONE, 0, 0)) do
  redis.call('ZADD', GONE, place_of(tonumber(s)), s)
end
emit('d:' .. d[3])
return 1
