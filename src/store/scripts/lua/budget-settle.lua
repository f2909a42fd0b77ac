-- Settle a reservation (budget-reserve) when its call has ended: release it, and count what the
-- call used (0 for a call that failed) as spent, so the next reservation sees it at once. A
-- reservation already released (expired, its attempt recovered, its run ended) is not released
-- twice; what the call used is counted all the same.
-- KEYS: run, events, holds. ARGV: [1] tokens reserved, [2] cost reserved, [3] tokens used,
-- [4] cost used, [5] now (ISO), [6] attempt, [7] step id, [8] lease id.
-- Returns '' or why the budget is now exceeded (see spend).
--@include spend
--@include holdEntry
local b = redis.call('HGET', KEYS[1], 'budget')
if not b or b == 'null' then return '' end
local tokens, costText = tonumber(ARGV[1]), string.format('%.9f', tonumber(ARGV[2]))
if redis.call('ZREM', KEYS[3], holdEntry('r', ARGV[6], ARGV[7], ARGV[8], string.format('%d', tokens) .. ' ' .. costText)) == 1 then
  redis.call('HINCRBY', KEYS[1], 'reservedTokens', -tokens)
  redis.call('HINCRBYFLOAT', KEYS[1], 'reservedCostUsd', '-' .. costText)
end
return spend(KEYS[1], KEYS[2], '{"inputTokens":' .. tonumber(ARGV[3]) .. ',"outputTokens":0,"costUsd":' .. string.format('%.9f', tonumber(ARGV[4])) .. '}', ARGV[5], false)
