-- The tenant's usage not yet ingested, and (modes 'init' and 'repair') its Redis balance set
-- from the ledger, in one atomic step: the data plane's settle step decrements the balance
-- and appends the usage event together, so the balance always equals the ledger minus the
-- cost of the events the control plane has not yet written to the ledger.
-- KEYS[1] tenant hash, KEYS[2] the tenant's usage stream
-- ARGV[1] consumer group, ARGV[2] mode ('list' | 'init' | 'repair'), ARGV[3] ledger sum
-- (micro-USD), ARGV[4] most entries to look at, ARGV[5..] stream ids already ingested
-- (committed to Postgres, not yet acknowledged)
-- Reply 'list':   {'ok', id1, request_id1, id2, request_id2, ...}
-- Reply otherwise: {'set' | 'repaired' | 'kept', before ('' when absent), expected, entries}
-- Errors: {'no_group'} (create the group first), {'too_many'} (ingestion is far behind)
local group, mode, limit = ARGV[1], ARGV[2], tonumber(ARGV[4])

local ingested = {}
for i = 5, #ARGV do ingested[ARGV[i]] = true end

local last_delivered = nil
local info = redis.pcall('XINFO', 'GROUPS', KEYS[2])
if info['err'] then return {'no_group'} end
for _, g in ipairs(info) do
  local name, last = nil, nil
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] end
    if g[i] == 'last-delivered-id' then last = g[i + 1] end
  end
  if name == group then last_delivered = last end
end
if not last_delivered then return {'no_group'} end

-- Delivered but unacknowledged entries, then entries not yet delivered.
local entries = {}
local pending = redis.call('XPENDING', KEYS[2], group, '-', '+', limit + 1)
for _, p in ipairs(pending) do
  local found = redis.call('XRANGE', KEYS[2], p[1], p[1])
  if found[1] then entries[#entries + 1] = found[1] end
end
local undelivered = redis.call('XRANGE', KEYS[2], '(' .. last_delivered, '+', 'COUNT', limit + 1)
for _, e in ipairs(undelivered) do entries[#entries + 1] = e end
if #entries > limit then return {'too_many'} end

local function event_of(entry)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'event' then
      local ok, event = pcall(cjson.decode, fields[i + 1])
      if ok and type(event) == 'table' then return event end
    end
  end
  return nil
end

if mode == 'list' then
  local reply = {'ok'}
  for _, entry in ipairs(entries) do
    local event = event_of(entry)
    if event and type(event.request_id) == 'string' then
      reply[#reply + 1] = entry[1]
      reply[#reply + 1] = event.request_id
    end
  end
  return reply
end

local unacked = 0
for _, entry in ipairs(entries) do
  if not ingested[entry[1]] then
    local event = event_of(entry)
    if event and tonumber(event.cost_micros) then
      unacked = unacked + tonumber(event.cost_micros)
    end
  end
end

local expected = string.format('%d', tonumber(ARGV[3]) - unacked)
local before = redis.call('HGET', KEYS[1], 'balance_micros')
if not before then
  redis.call('HSET', KEYS[1], 'balance_micros', expected)
  return {'set', '', expected, #entries}
end
if mode == 'repair' and before ~= expected then
  redis.call('HSET', KEYS[1], 'balance_micros', expected)
  return {'repaired', before, expected, #entries}
end
return {'kept', before, expected, #entries}
