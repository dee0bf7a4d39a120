-- Claims the evaluation of the health window starting at ARGV[1] (epoch ms): 1 when no
-- later or equal window was claimed in KEYS[1], which then holds ARGV[1] for ARGV[2] ms.
local last = tonumber(redis.call('GET', KEYS[1]) or '-1') or -1
if tonumber(ARGV[1]) <= last then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
