-- KEYS: the line's LIFE, then some of its users hash buckets; ARGV: 1 when these are the
-- last. Unlinks the buckets while the line is retired (a reopened line's buckets are
-- never touched), and marks the purge done with the last batch. Returns 1, or 0 when
-- the line is not retired. RETIRED is declared before this (`LifeState`).
if redis.call('HGET', KEYS[1], 'state') ~= RETIRED then
  return 0
end
if #KEYS > 1 then
  redis.call('UNLINK', unpack(KEYS, 2))
end
if ARGV[1] == '1' then
  redis.call('HSET', KEYS[1], 'purged', '1')
end
return 1
