-- ARGV: owner id, now ms, claim ms. Claims the draw for one caller: returns
-- `{1, seed, k, epoch, left...}` (the pre-queued numbers that left) to the one caller
-- that may draw now, `{0}` to any other (not frozen, or another caller's claim is live).
local now = tonumber(ARGV[2])
local d = redis.call('HMGET', DRAW, 'state', 'claim_until', 'seed', 'k')
if d[1] ~= FROZEN or tonumber(d[2] or '0') > now then
  return {0}
end
redis.call('HSET', DRAW, 'claim', ARGV[1], 'claim_until', now + tonumber(ARGV[3]))
local out = {1, d[3], d[4], redis.call('HGET', STATS, 'epoch') or '0'}
for _, s in ipairs(redis.call('ZRANGEBYSCORE', GONE, 0, 0)) do
  out[#out + 1] = s
end
return out
