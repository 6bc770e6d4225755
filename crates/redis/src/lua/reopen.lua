-- No ARGV. Reopens a closed line, or a retired one whose keys are all deleted (its next
-- entry starts a new incarnation with a new epoch). Returns 1, or 0 for a retired line
-- whose users hash is not purged yet (the caller purges it, then calls again).
local l = redis.call('HMGET', LIFE, 'state', 'purged')
if l[1] == RETIRED and l[2] ~= '1' then
  return 0
end
redis.call('DEL', LIFE)
return 1
