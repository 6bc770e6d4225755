-- No ARGV. A consistent picture for an instance that starts or fell behind the stream:
-- {seq, head, evn, epoch, last stream id, draw state, k, opens ms, inventory, life state,
-- why, since ms, retired epoch, batch count, (first, last, end_ms) per batch, then every gone number that still matters
-- (inside a batch, ahead of the head, or not yet placed by the draw)}.
local st = redis.call('HMGET', STATS, 'evn', 'epoch', 'inv')
local out = {redis.call('GET', SEQ) or '0', tostring(head()), st[1] or '0', st[2] or '0'}
local tail = redis.call('XREVRANGE', EVENTS, '+', '-', 'COUNT', 1)
out[#out + 1] = tail[1] and tail[1][1] or '0-0'
local d = redis.call('HMGET', DRAW, 'state', 'k', 'opens')
out[#out + 1] = d[1] or ''
out[#out + 1] = d[2] or '0'
out[#out + 1] = d[3] or '0'
out[#out + 1] = st[3] or ''
local l = life()
out[#out + 1] = l[1] or ''
out[#out + 1] = l[2] or ''
out[#out + 1] = l[3] or '0'
out[#out + 1] = l[4] or '0'
local batches = redis.call('ZRANGE', BATCHES, 0, -1, 'WITHSCORES')
out[#out + 1] = tostring(#batches / 2)
local low = head()
for i = 1, #batches, 2 do
  out[#out + 1] = batches[i]
  out[#out + 1] = batches[i + 1]
  out[#out + 1] = redis.call('ZSCORE', ENDS, batches[i]) or '0'
  low = math.min(low, tonumber(batches[i]) - 1)
end
for _, s in ipairs(redis.call('ZRANGEBYSCORE', GONE, '(' .. low, '+inf')) do
  out[#out + 1] = s
end
-- pre-queued fans who left before the draw placed them (score 0, left out above)
for _, s in ipairs(redis.call('ZRANGEBYSCORE', GONE, 0, 0)) do
  out[#out + 1] = s
end
return out
