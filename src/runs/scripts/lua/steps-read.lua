-- Steps as step-begin reads them, for a step that reads too many to read in its own script (a
-- join of a wide fan-out): their status and optional flag, and their output where asked.
-- ARGV: [1] step key prefix, [2] one '1'/'0' per step (is its output needed?), [3..] step ids
-- Returns per step: status JSON ('"cancelled"' when missing), optional JSON, output JSON (null when not asked).
local prefix, needs = ARGV[1], ARGV[2]
local out = {}
for i = 3, #ARGV do
  local k = i - 2
  local r
  if string.sub(needs, k, k) == '1' then
    r = redis.call('HMGET', prefix .. ARGV[i], 'status', 'optional', 'output')
  else
    r = redis.call('HMGET', prefix .. ARGV[i], 'status', 'optional')
  end
  out[#out + 1] = r[1] or '"cancelled"'
  out[#out + 1] = r[2] or 'false'
  out[#out + 1] = r[3] or 'null'
end
return out
