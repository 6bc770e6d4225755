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
