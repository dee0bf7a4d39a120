-- The health monitor's leader election: the holder ARGV[1] renews the lock KEYS[1] for
-- ARGV[2] ms; anyone takes it when it is free (SET NX PX). Returns 1 when ARGV[1] holds it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
