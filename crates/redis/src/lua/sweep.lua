-- KEYS: the line's keys, then users hash buckets (the first is USERS, the rest follow it);
-- ARGV: now ms. Drops from those buckets every user whose number is done: gone (left,
-- dropped for idling) or admitted in a batch that has ended; a fan still waiting,
-- pre-queued or admitted now stays. Returns the count dropped. A retired line (its keys
-- are being deleted) is not touched.
local now = tonumber(ARGV[1])
if life()[1] == RETIRED then
  return 0
end
local h = head()
local dropped = 0
for i = USERS_POSITION, #KEYS do
  local bucket = KEYS[i]
  local all = redis.call('HGETALL', bucket)
  for j = 1, #all, 2 do
    local s = all[j + 1]
    local done = redis.call('ZSCORE', GONE, s) ~= false
    if not done then
      local p = place_of(tonumber(s))
      if p ~= 0 and p <= h then
        local first, ends = batch_of(p)
        done = (not first) or ends <= now
      end
    end
    if done then
      redis.call('HDEL', bucket, all[j])
      dropped = dropped + 1
    end
  end
end
return dropped
