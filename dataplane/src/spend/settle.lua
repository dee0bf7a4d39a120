-- Settles one request in one atomic step: releases its reservation, counts its actual cost
-- against the month's spend and the prepaid balance, and appends its usage event. A request
-- id settled within the dedup window is not counted again (replays after a Redis outage).
-- KEYS[1] tenant hash, KEYS[2] spend hash (this month), KEYS[3] reservations,
-- KEYS[4] settled marker, KEYS[5] the tenant's usage stream
-- ARGV: request_id, tag ('' for none), cost_micros, event_json, stream_maxlen,
--       spend_ttl_secs, dedup_ttl_ms
-- Reply: {'ok' | 'duplicate', spent_all, spent_tag, balance ('' when none)}
local id, tag, cost = ARGV[1], ARGV[2], ARGV[3]

local r = redis.call('HGET', KEYS[3], 'r:' .. id)
if r then
  local amount, _, rtag = string.match(r, '^(%d+):(%d+):(.*)$')
  redis.call('HDEL', KEYS[3], 'r:' .. id)
  if amount then
    redis.call('HINCRBY', KEYS[3], '*', '-' .. amount)
    if rtag ~= '' then redis.call('HINCRBY', KEYS[3], 'tag:' .. rtag, '-' .. amount) end
  end
end

local code = 'ok'
if redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[7]) then
  if cost ~= '0' then
    redis.call('HINCRBY', KEYS[2], '*', cost)
    if tag ~= '' then redis.call('HINCRBY', KEYS[2], tag, cost) end
    redis.call('EXPIRE', KEYS[2], ARGV[6])
    if redis.call('HEXISTS', KEYS[1], 'balance_micros') == 1 then
      redis.call('HINCRBY', KEYS[1], 'balance_micros', '-' .. cost)
    end
  end
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'event', ARGV[4])
else
  code = 'duplicate'
end

local spent = redis.call('HMGET', KEYS[2], '*', tag)
local balance = redis.call('HGET', KEYS[1], 'balance_micros')
return {code, spent[1] or '0', spent[2] or '0', balance or ''}
