-- ARGV: number, now ms, the epoch the token was signed for, user. Returns `{known,
-- changed}`: a number never issued in this line is unknown; one already gone or expired
-- changes nothing. A number that leaves is dropped from the users index (USERS is the
-- user's bucket) when it is the user's place there: a user's later entry gets a new
-- place either way.
local s, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local function forget_user()
  if redis.call('HGET', USERS, ARGV[4]) == ARGV[1] then
    redis.call('HDEL', USERS, ARGV[4])
  end
end
if s > tonumber(redis.call('GET', SEQ) or '0')
   or redis.call('HGET', STATS, 'epoch') ~= ARGV[3] then
  return {0, 0}
end
if redis.call('ZSCORE', GONE, ARGV[1]) then
  return {1, 0}
end
local p = place_of(s)
if p == 0 or p > head() then
  redis.call('ZADD', GONE, p, ARGV[1])
  redis.call('HINCRBY', STATS, 'waiting', -1)
  if p == 0 then
    redis.call('HINCRBY', DRAW, 'live', -1)
  end
  emit('g:' .. ARGV[1])
  forget_user()
  return {1, 1}
end
local first, ends = batch_of(p)
if first and ends > now then
  redis.call('ZADD', GONE, p, ARGV[1])
  redis.call('HINCRBY', LEFT, first, -1)
  redis.call('HINCRBY', STATS, 'active', -1)
  emit('g:' .. ARGV[1])
  forget_user()
  return {1, 1}
end
forget_user()
return {1, 0}
