-- Ends a health subject's mark of one kind early (the probe succeeded) and, when no mark of
-- the other kind still holds, appends the Cleared event ARGV[4] to the provider's history.
-- Returns 1 when the subject is no longer degraded. A mark that already ran out is left for
-- the expiry step, which records it as expired.
-- KEYS[1]: the marks hash; KEYS[2]: the provider's history (sorted set).
-- ARGV: field, the subject's field of the other kind, now, event JSON, history cutoff,
-- history cap, history TTL (ms).
local now = tonumber(ARGV[3])
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') or 0
if current <= now then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
local other_until = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0') or 0
if other_until > now then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[6]) - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[7])
return 1
