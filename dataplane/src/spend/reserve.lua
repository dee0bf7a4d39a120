-- Checks a tenant's status, prepaid balance and monthly caps, then reserves an estimate of
-- the request's cost, in one atomic step. Every key carries the tenant's hash tag.
-- KEYS[1] tenant hash     (status, balance_micros)
-- KEYS[2] budgets hash    (tag or '*' -> monthly cap in cents)
-- KEYS[3] spend hash      (this month: '*' and tag -> micro-USD spent)
-- KEYS[4] reservations    ('r:<id>' -> 'amount:expires_ms:tag', '*' and 'tag:<tag>' -> sums)
-- ARGV: now_ms, request_id, tag ('' for none), estimate_micros, expires_ms, next_sweep_ms
-- Reply: {code, capped_tag, status, balance, cap_all, cap_tag, spent_all, spent_tag}
local now, id, tag, estimate = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]

-- Release reservations left by instances that died mid-request (at most every few seconds).
local sweep_at = tonumber(redis.call('HGET', KEYS[4], 'sweep_at') or '0')
if now >= sweep_at then
  local all = redis.call('HGETALL', KEYS[4])
  for i = 1, #all, 2 do
    local field = all[i]
    if string.sub(field, 1, 2) == 'r:' then
      local amount, expires, rtag = string.match(all[i + 1], '^(%d+):(%d+):(.*)$')
      if amount and tonumber(expires) < now then
        redis.call('HDEL', KEYS[4], field)
        redis.call('HINCRBY', KEYS[4], '*', '-' .. amount)
        if rtag ~= '' then redis.call('HINCRBY', KEYS[4], 'tag:' .. rtag, '-' .. amount) end
      end
    end
  end
  redis.call('HSET', KEYS[4], 'sweep_at', ARGV[6])
end

local t = redis.call('HMGET', KEYS[1], 'status', 'balance_micros')
local status, balance = t[1], t[2]
local caps = redis.call('HMGET', KEYS[2], '*', tag)
local spent = redis.call('HMGET', KEYS[3], '*', tag)
local reserved = redis.call('HMGET', KEYS[4], '*', 'tag:' .. tag)
local cap_all, cap_tag = caps[1], caps[2]
local spent_all, spent_tag = tonumber(spent[1] or '0'), tonumber(spent[2] or '0')
local reserved_all, reserved_tag = tonumber(reserved[1] or '0'), tonumber(reserved[2] or '0')
if tag == '' then
  cap_tag = false
end

local function reply(code, capped)
  return {code, capped or '', status or '', balance or '', cap_all or '', cap_tag or '',
          spent[1] or '0', spent[2] or '0'}
end

if status == 'suspended' then return reply('tenant_suspended') end
if balance and tonumber(balance) - reserved_all <= 0 then return reply('insufficient_credits') end
if cap_all and spent_all + reserved_all >= tonumber(cap_all) * 10000 then
  return reply('budget_exceeded', '*')
end
if cap_tag and spent_tag + reserved_tag >= tonumber(cap_tag) * 10000 then
  return reply('budget_exceeded', tag)
end

redis.call('HSET', KEYS[4], 'r:' .. id, estimate .. ':' .. ARGV[5] .. ':' .. tag)
redis.call('HINCRBY', KEYS[4], '*', estimate)
if tag ~= '' then redis.call('HINCRBY', KEYS[4], 'tag:' .. tag, estimate) end
return reply('ok')
