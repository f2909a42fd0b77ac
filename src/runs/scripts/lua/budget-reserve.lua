-- Reserve a provider call's estimated tokens and cost against its run's budget, before the
-- call, so that what the run has spent, what its calls in flight have reserved and this call
-- never pass a limit together (a fan-out cannot overshoot by its width × maxTokens).
-- KEYS: run. ARGV: [1] tokens, [2] cost (USD).
-- Returns '' when reserved (or the run has no token or cost limit); 'wait ' .. why when only
-- the calls in flight leave no room (their reservations are released as they end); else why
-- it is refused (spent and this call pass the limit: the run cannot afford it).
local b = redis.call('HGET', KEYS[1], 'budget')
if not b or b == 'null' then return '' end
b = cjson.decode(b)
local tokens, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'spentTokens', 'reservedTokens', 'spentCostUsd', 'reservedCostUsd')
local function n(x) return tonumber(x or '0') or 0 end
if type(b.maxTokens) == 'number' and n(v[1]) + tokens > b.maxTokens then
  return 'budget exceeded: a call of about ' .. tokens .. ' tokens would pass maxTokens ' .. tostring(b.maxTokens) .. ' (spent ' .. n(v[1]) .. ')'
end
if type(b.maxCostUsd) == 'number' and n(v[3]) + cost > b.maxCostUsd then
  return 'budget exceeded: a call of about $' .. string.format('%.6f', cost) .. ' would pass maxCostUsd ' .. tostring(b.maxCostUsd) .. ' (spent $' .. string.format('%.6f', n(v[3])) .. ')'
end
if type(b.maxTokens) == 'number' and n(v[1]) + n(v[2]) + tokens > b.maxTokens then
  return 'wait maxTokens ' .. tostring(b.maxTokens) .. ' (spent ' .. n(v[1]) .. ', in flight ' .. n(v[2]) .. ', this call about ' .. tokens .. ')'
end
if type(b.maxCostUsd) == 'number' and n(v[3]) + n(v[4]) + cost > b.maxCostUsd then
  return 'wait maxCostUsd ' .. tostring(b.maxCostUsd) .. ' (spent $' .. string.format('%.6f', n(v[3])) .. ', in flight $' .. string.format('%.6f', n(v[4])) .. ', this call about $' .. string.format('%.6f', cost) .. ')'
end
redis.call('HINCRBY', KEYS[1], 'reservedTokens', tokens)
redis.call('HINCRBYFLOAT', KEYS[1], 'reservedCostUsd', string.format('%.9f', cost))
return ''
