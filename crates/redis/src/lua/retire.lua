-- ARGV: now ms, closed-before ms. Retires a line closed at or before then with no
-- admission running past now (no fan left in a batch that has not ended): keeps how it ended (and the epoch its tokens were signed
-- for) in LIFE and unlinks every other key of the line but the users hash, which the
-- caller purges in bounded batches (`purge`). Returns 1 when the line is retired (now or
-- before), 0 when it is not due.
local now = tonumber(ARGV[1])
local l = life()
if l[1] == RETIRED then
  return 1
end
if l[1] ~= CLOSED or tonumber(l[3]) > tonumber(ARGV[2]) then
  return 0
end
-- an admission still running: a batch not ended with a fan still in it
for _, first in ipairs(redis.call('ZRANGEBYSCORE', ENDS, '(' .. now, '+inf')) do
  if tonumber(redis.call('HGET', LEFT, first) or '0') > 0 then
    return 0
  end
end
redis.call('HSET', LIFE, 'state', RETIRED,
           'epoch', redis.call('HGET', STATS, 'epoch') or '0')
redis.call('UNLINK', LINE_KEYS_BUT_LIFE)
return 1
