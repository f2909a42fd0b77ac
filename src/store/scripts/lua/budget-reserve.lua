-- Reserve a provider call's estimated tokens and cost, before the call, against its run's
-- budget and against the spend envelopes of its workspace and of the API key that submitted it
-- (includes/envelope.lua), all or none: what was spent, what the calls in flight have reserved
-- and this call never pass a limit together (a fan-out cannot overshoot by its width ×
-- maxTokens, nor many runs an envelope by their number).
-- A reservation is a lease, one hold of the run (keys.runHolds, see holdEntry; its `what` names
-- the envelope days it holds too) expiring with its call's step timeout and a margin: released
-- when its call settles, when its attempt is recovered or its run ends (holds-release), and
-- never counted once expired (a lost worker's).
-- KEYS: run, holds, then per envelope (the workspace's, the key's) its config, its day, its
-- leases. ARGV: [1] tokens, [2] cost (USD), [3] attempt, [4] step id, [5] lease id, [6] lease
-- length (ms), [7] when the day ends (ISO, for messages), [8...] each envelope's name.
-- Returns {why, held...}: why '' when reserved (or nothing limits the call), 'wait ' .. why
-- when only the calls in flight leave no room (their reservations are released as they end),
-- else why it is refused (spent and this call pass a limit: it cannot be afforded today or by
-- the run); held: the envelopes (1, 2: their place in KEYS) the reservation holds.
--@include holdEntry
--@include extendTtl
--@include envelope
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tokens, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local b = redis.call('HGET', KEYS[1], 'budget')
local budgeted = b and b ~= 'null'
if budgeted then
  b = cjson.decode(b)
  budgeted = type(b.maxTokens) == 'number' or type(b.maxCostUsd) == 'number'
end
if budgeted then
  -- Expired holds go; an expired reservation gives back what it held.
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
  if #expired > 0 then
    local gone, goneCost = 0, 0
    for _, e in ipairs(expired) do
      local tk, c = string.match(e, '^r %d+ %S+ %S+ (%S+) (%S+)')
      if tk then gone, goneCost = gone + tonumber(tk), goneCost + tonumber(c) end
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
    if gone > 0 then redis.call('HINCRBY', KEYS[1], 'reservedTokens', -gone) end
    if goneCost > 0 then redis.call('HINCRBYFLOAT', KEYS[1], 'reservedCostUsd', string.format('%.9f', -goneCost)) end
  end
  local v = redis.call('HMGET', KEYS[1], 'spentTokens', 'reservedTokens', 'spentCostUsd', 'reservedCostUsd')
  local function n(x) return tonumber(x or '0') or 0 end
  if type(b.maxTokens) == 'number' and n(v[1]) + tokens > b.maxTokens then
    return { 'budget exceeded: a call of about ' .. tokens .. ' tokens would pass maxTokens ' .. tostring(b.maxTokens) .. ' (spent ' .. n(v[1]) .. ')' }
  end
  if type(b.maxCostUsd) == 'number' and n(v[3]) + cost > b.maxCostUsd then
    return { 'budget exceeded: a call of about $' .. string.format('%.6f', cost) .. ' would pass maxCostUsd ' .. tostring(b.maxCostUsd) .. ' (spent $' .. string.format('%.6f', n(v[3])) .. ')' }
  end
  if type(b.maxTokens) == 'number' and n(v[1]) + n(v[2]) + tokens > b.maxTokens then
    return { 'wait run budget maxTokens ' .. tostring(b.maxTokens) .. ' (spent ' .. n(v[1]) .. ', in flight ' .. n(v[2]) .. ', this call about ' .. tokens .. ')' }
  end
  if type(b.maxCostUsd) == 'number' and n(v[3]) + n(v[4]) + cost > b.maxCostUsd then
    return { 'wait run budget maxCostUsd ' .. tostring(b.maxCostUsd) .. ' (spent $' .. string.format('%.6f', n(v[3])) .. ', in flight $' .. string.format('%.6f', n(v[4])) .. ', this call about $' .. string.format('%.6f', cost) .. ')' }
  end
end
-- The envelopes, each checked before anything is held.
local held = {}
for i = 3, #KEYS, 3 do
  local cfg = redis.call('GET', KEYS[i])
  if cfg then
    envelopeSweep(KEYS[i + 1], KEYS[i + 2], now)
    local why = envelopeCheck(ARGV[8 + (i - 3) / 3], cjson.decode(cfg), KEYS[i + 1], tokens, cost, ARGV[7])
    if why ~= '' then return { why } end
    held[#held + 1] = i
  end
end
if not budgeted and #held == 0 then return { '' } end
local tokensText, costText = string.format('%d', tokens), string.format('%.9f', cost)
local leaseMs = tonumber(ARGV[6])
local what = tokensText .. ' ' .. costText
local reply = { '' }
for _, i in ipairs(held) do
  envelopeReserve(KEYS[i + 1], KEYS[i + 2], ARGV[5], tokensText, costText, now + leaseMs, leaseMs)
  what = what .. ' ' .. KEYS[i + 1]
  reply[#reply + 1] = (i - 3) / 3 + 1
end
if budgeted then
  redis.call('HINCRBY', KEYS[1], 'reservedTokens', tokens)
  redis.call('HINCRBYFLOAT', KEYS[1], 'reservedCostUsd', costText)
end
redis.call('ZADD', KEYS[2], now + leaseMs, holdEntry('r', ARGV[3], ARGV[4], ARGV[5], what))
extendTtl(KEYS[2], math.max(3600000, leaseMs))
return reply
