-- ARGV: why (a `CloseReason` code), now ms. Closes an open line (a closed or retired one
-- keeps its first reason and time). Returns the life after: {state, why, since ms}.
local l = life()
if not l[1] then
  redis.call('HSET', LIFE, 'state', CLOSED, 'why', ARGV[1], 'at', ARGV[2])
  l = life()
end
return {l[1], l[2], l[3]}
