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
