local st = redis.call('HMGET', KEYS[8], 'evn', 'epoch', 'inv')
local out = {redis.call('GET', KEYS[1]) or '0', tostring(head()), st[1] or '0', st[2] or '0'}
local tail = redis.call('XREVRANGE', KEYS[10], '+', '-', 'COUNT', 1)
out[#out + 1] = tail[1] and tail[1][1] or '0-0'
local d = redis.call('HMGET', KEYS[11], 'state', 'k', 'opens')
out[#out + 1] = d[1] or ''
out[#out + 1] = d[2] or '0'
out[#out + 1] = d[3] or '0'
out[#out + 1] = st[3] or ''
local batches = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
out[#out + 1] = tostring(#batches / 2)
local low = head()
for i = 1, #batches, 2 do
  out[#out + 1] = batches[i]
  out[#out + 1] = batches[i + 1]
  out[#out + 1] = redis.call('ZSCORE', KEYS[5], batches[i]) or '0'
  low = math.min(low, tonumber(batches[i]) - 1)
end
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. low, '+inf')) do
  out[#out + 1] = s
end
-- pre-queued fans who left before the draw placed them (score 0, left out above)
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], 0, 0)) do
  out[#out + 1] = s
end
return out
