-- ARGV: now ms. Returns {waiting, active, admitted_total, expired_total, rate}: active
-- leaves out batches that ended but no tick has expired yet.
local now = tonumber(ARGV[1])
local s = redis.call('HMGET', STATS, 'waiting', 'active', 'admitted_total',
                     'expired_total', 'rate')
local active = tonumber(s[2] or '0')
for _, first in ipairs(redis.call('ZRANGEBYSCORE', ENDS, '-inf', now)) do
  active = active - tonumber(redis.call('HGET', LEFT, first) or '0')
end
return {s[1] or '0', tostring(active), s[3] or '0', s[4] or '0', s[5] or '0'}
