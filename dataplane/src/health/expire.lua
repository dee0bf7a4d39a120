-- Deletes the marks that ran out by ARGV[1] (epoch ms) from the marks hash KEYS[1] and
-- returns the subjects left with no mark at all (each once).
local now = tonumber(ARGV[1])
local flat = redis.call('HGETALL', KEYS[1])
local active, expired = {}, {}
for i = 1, #flat, 2 do
  local field, untl = flat[i], tonumber(flat[i + 1]) or 0
  local colon = string.find(field, ':', 1, true)
  local subject = colon and string.sub(field, colon + 1) or field
  if untl > now then
    active[subject] = true
  else
    redis.call('HDEL', KEYS[1], field)
    expired[#expired + 1] = subject
  end
end
local cleared = {}
for _, subject in ipairs(expired) do
  if not active[subject] then
    active[subject] = true
    cleared[#cleared + 1] = subject
  end
end
return cleared
