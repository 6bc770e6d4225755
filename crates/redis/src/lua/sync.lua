local st = redis.call('HMGET', KEYS[8], 'evn', 'rate', 'epoch', 'rate_var', 'inv')
local p = redis.call('HMGET', KEYS[9], 'admit_per_second', 'paused')
local d = redis.call('HMGET', KEYS[11], 'state', 'k', 'opens')
local out = {redis.call('GET', KEYS[1]) or '0', tostring(head()), st[1] or '0',
             st[2] or '0', p[1] or '', p[2] or '', st[3] or '0', st[4] or '0', st[5] or '',
             d[1] or '', d[2] or '0', d[3] or '0'}
for _, e in ipairs(redis.call('XRANGE', KEYS[10], ARGV[1], '+', 'COUNT', ARGV[2])) do
  out[#out + 1] = e[1]
  out[#out + 1] = e[2][2]
end
return out
