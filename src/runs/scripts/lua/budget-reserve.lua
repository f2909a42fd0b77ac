-- Reserve a provider call's estimated tokens and cost against its run's budget, before the
-- call: refused when what the run has spent, what its calls in flight have reserved, and this
-- call would together pass a limit (so a fan-out cannot overshoot by its width × maxTokens).
-- KEYS: run. ARGV: [1] tokens, [2] cost (USD).
-- Returns '' when reserved (or the run has no token or cost limit), else why it is refused.
local b = redis.call('HGET', KEYS[1], 'budget')
if not b or b == 'null' then return '' end
b = cjson.decode(b)
local tokens, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'spentTokens', 'reservedTokens', 'spentCostUsd', 'reservedCostUsd')
local function n(x) return tonumber(x or '0') or 0 end
if type(b.maxTokens) == 'number' and n(v[1]) + n(v[2]) + tokens > b.maxTokens then
  return 'budget exceeded: a call of about ' .. tokens .. ' tokens would pass maxTokens ' .. tostring(b.maxTokens) .. ' (spent ' .. n(v[1]) .. ', in flight ' .. n(v[2]) .. ')'
end
if type(b.maxCostUsd) == 'number' and n(v[3]) + n(v[4]) + cost > b.maxCostUsd then
  return 'budget exceeded: a call of about $' .. string.format('%.6f', cost) .. ' would pass maxCostUsd ' .. tostring(b.maxCostUsd) .. ' (spent $' .. string.format('%.6f', n(v[3])) .. ', in flight $' .. string.format('%.6f', n(v[4])) .. ')'
end
redis.call('HINCRBY', KEYS[1], 'reservedTokens', tokens)
redis.call('HINCRBYFLOAT', KEYS[1], 'reservedCostUsd', string.format('%.9f', cost))
return ''
