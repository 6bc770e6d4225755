-- ARGV: opens ms, seed hex, commitment. Creates the pre-queue and its draw on a line
-- nobody entered (`O`), moves the opening of one not yet frozen (`M`), leaves a frozen
-- or drawn one alone (`F`), or refuses a line fans entered without a pre-queue (`R`).
local st = draw_state()
if not st then
  if tonumber(redis.call('GET', SEQ) or '0') > 0 then
    return T_REFUSED
  end
  redis.call('HSET', DRAW, 'state', PRE, 'opens', ARGV[1], 'seed', ARGV[2],
             'commitment', ARGV[3], 'live', 0)
  return T_CREATED
end
if st == PRE then
  redis.call('HSET', DRAW, 'opens', ARGV[1])
  return T_MOVED
end
return T_FIXED
