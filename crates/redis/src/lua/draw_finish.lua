local d = redis.call('HMGET', KEYS[11], 'state', 'claim', 'k')
if d[1] ~= 'frozen' or d[2] ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[11], 'state', 'drawn', 'n', ARGV[2])
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], 0, 0)) do
  redis.call('ZADD', KEYS[3], place_of(tonumber(s)), s)
end
emit('d:' .. d[3])
return 1
