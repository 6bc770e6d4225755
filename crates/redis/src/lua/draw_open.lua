local st = draw_state()
if not st then
  if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
    return 'R'
  end
  redis.call('HSET', KEYS[11], 'state', 'pre', 'opens', ARGV[1], 'seed', ARGV[2],
             'commitment', ARGV[3], 'live', 0)
  return 'C'
end
if st == 'pre' then
  redis.call('HSET', KEYS[11], 'opens', ARGV[1])
  return 'M'
end
return 'F'
