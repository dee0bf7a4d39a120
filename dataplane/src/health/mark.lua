-- Marks a health subject degraded until ARGV[3], keeping a later mark of the same kind, and
-- appends the Degraded event ARGV[5] to the provider's history when the subject was not
-- degraded before. Returns 1 when it was not.
-- KEYS[1]: the marks hash; KEYS[2]: the provider's history (sorted set).
-- ARGV: field, the subject's field of the other kind, until (epoch ms), now, event JSON,
-- history cutoff (epoch ms), history cap, marks TTL (ms), history TTL (ms),
-- "1" to only extend a mark the subject still has.
local field, other = ARGV[1], ARGV[2]
local untl, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local current = tonumber(redis.call('HGET', KEYS[1], field) or '0') or 0
local other_until = tonumber(redis.call('HGET', KEYS[1], other) or '0') or 0
local was_degraded = current > now or other_until > now
if ARGV[10] == '1' and current <= now then
  return 0
end
if untl > current then
  redis.call('HSET', KEYS[1], field, ARGV[3])
end
redis.call('PEXPIRE', KEYS[1], ARGV[8])
if was_degraded then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[6])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[7]) - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[9])
return 1
