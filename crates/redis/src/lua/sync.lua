-- ARGV: exclusive start id (`(<id>`, or `-` for all), count. Returns
-- {seq, head, evn, rate, admit_per_second, paused, epoch, rate variance, inventory,
-- draw state, k, opens ms, life state, why, since ms, retired epoch, the policy's fields
-- (`POLICY_FIELDS`, '' when unset), then id, event pairs}.
local st = redis.call('HMGET', STATS, 'evn', 'rate', 'epoch', 'rate_var', 'inv')
local p = redis.call('HMGET', POLICY, 'admit_per_second', 'paused')
local d = redis.call('HMGET', DRAW, 'state', 'k', 'opens')
local out = {redis.call('GET', SEQ) or '0', tostring(head()), st[1] or '0',
             st[2] or '0', p[1] or '', p[2] or '', st[3] or '0', st[4] or '0', st[5] or '',
             d[1] or '', d[2] or '0', d[3] or '0'}
local l = life()
out[#out + 1] = l[1] or ''
out[#out + 1] = l[2] or ''
out[#out + 1] = l[3] or '0'
out[#out + 1] = l[4] or '0'
-- the whole policy (for this instance's policy answers)
for _, v in ipairs(redis.call('HMGET', POLICY, POLICY_FIELDS)) do
  out[#out + 1] = v or ''
end
for _, e in ipairs(redis.call('XRANGE', EVENTS, ARGV[1], '+', 'COUNT', ARGV[2])) do
  out[#out + 1] = e[1]
  out[#out + 1] = e[2][2]
end
return out
