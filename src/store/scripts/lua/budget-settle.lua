-- Settle a reservation (budget-reserve) when its call has ended: release it, and count what the
-- call used (0 for a call that failed) as spent, by the run's budget and by each envelope the
-- reservation held, so the next reservation sees it at once. A reservation already released
-- (expired, its attempt recovered, its run ended) is not released twice; what the call used is
-- counted all the same. The first time today an envelope's spending reaches 80% of a limit, a
-- budget.warning event is appended to this run's events (once per envelope and day).
-- KEYS: run, events, holds, then per envelope the reservation held (as budget-reserve named
-- them, in its order): its config, its day, its leases. ARGV: [1] tokens reserved, [2] cost
-- reserved, [3] tokens used, [4] cost used, [5] now (ISO), [6] attempt, [7] step id, [8] lease
-- id, [9] the envelopes' day, [10...] each envelope's name.
-- Returns {why the run's budget is now exceeded or '', the run budget's own warning (its data
-- JSON) or '' (see spend), each envelope's warning data (JSON)}.
--@include spend
--@include holdEntry
--@include envelope
local tokensText, costText = string.format('%d', tonumber(ARGV[1])), string.format('%.9f', tonumber(ARGV[2]))
local what = tokensText .. ' ' .. costText
for i = 4, #KEYS, 3 do what = what .. ' ' .. KEYS[i + 1] end
local b = redis.call('HGET', KEYS[1], 'budget')
local budgeted = b and b ~= 'null'
if redis.call('ZREM', KEYS[3], holdEntry('r', ARGV[6], ARGV[7], ARGV[8], what)) == 1 and budgeted then
  redis.call('HINCRBY', KEYS[1], 'reservedTokens', -tonumber(tokensText))
  redis.call('HINCRBYFLOAT', KEYS[1], 'reservedCostUsd', '-' .. costText)
end
local usedTokens, usedCost = tonumber(ARGV[3]), tonumber(ARGV[4])
local reply = { '', '' }
for i = 4, #KEYS, 3 do
  envelopeRelease(KEYS[i + 1], KEYS[i + 2], ARGV[8], tokensText, costText)
  local cfg = redis.call('GET', KEYS[i])
  local warning = envelopeSpend(KEYS[i + 1], cfg and cjson.decode(cfg), ARGV[9 + (i - 1) / 3], ARGV[9], usedTokens, usedCost)
  if warning then
    event(KEYS[2], 'budget.warning', nil, ARGV[5], warning)
    reply[#reply + 1] = warning
  end
end
if budgeted then
  reply[1], reply[2] = spend(KEYS[1], KEYS[2], '{"inputTokens":' .. usedTokens .. ',"outputTokens":0,"costUsd":' .. string.format('%.9f', usedCost) .. '}', ARGV[5])
end
return reply
