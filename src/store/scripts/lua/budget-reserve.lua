-- Reserve a provider call's estimated tokens and cost against its run's budget, before the
-- call, so that what the run has spent, what its calls in flight have reserved and this call
-- never pass a limit together (a fan-out cannot overshoot by its width × maxTokens).
-- A reservation is a lease, one hold of the run (keys.runHolds, see holdEntry) expiring with
-- its call's step timeout and a margin: released when its call settles, when its attempt is
-- recovered or its run ends (holds-release), and never counted once expired (a lost worker's).
-- KEYS: run, holds. ARGV: [1] tokens, [2] cost (USD), [3] attempt, [4] step id, [5] lease id,
-- [6] lease length (ms).
-- Returns '' when reserved (or the run has no token or cost limit); 'wait ' .. why when only
-- the calls in flight leave no room (their reservations are released as they end); else why
-- it is refused (spent and this call pass the limit: the run cannot afford it).
--@include holdEntry
--@include extendTtl
local b = redis.call('HGET', KEYS[1], 'budget')
if not b or b == 'null' then return '' end
b = cjson.decode(b)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Expired holds go; an expired reservation gives back what it held.
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
if #expired > 0 then
  local gone, goneCost = 0, 0
  for _, e in ipairs(expired) do
    local tk, c = string.match(e, '^r %d+ %S+ %S+ (%S+) (%S+)$')
    if tk then gone, goneCost = gone + tonumber(tk), goneCost + tonumber(c) end
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if gone > 0 then redis.call('HINCRBY', KEYS[1], 'reservedTokens', -gone) end
  if goneCost > 0 then redis.call('HINCRBYFLOAT', KEYS[1], 'reservedCostUsd', string.format('%.9f', -goneCost)) end
end
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
local costText = string.format('%.9f', cost)
redis.call('HINCRBY', KEYS[1], 'reservedTokens', tokens)
redis.call('HINCRBYFLOAT', KEYS[1], 'reservedCostUsd', costText)
local leaseMs = tonumber(ARGV[6])
redis.call('ZADD', KEYS[2], now + leaseMs, holdEntry('r', ARGV[3], ARGV[4], ARGV[5], string.format('%d', tokens) .. ' ' .. costText))
extendTtl(KEYS[2], math.max(3600000, leaseMs))
return ''
