-- Settle a reservation (budget-reserve) when its call has ended: release it, and count what the
-- call used (0 for a call that failed) as spent, so the next reservation sees it at once.
-- KEYS: run, events. ARGV: [1] tokens reserved, [2] cost reserved, [3] tokens used, [4] cost used, [5] now (ISO).
-- Returns '' or why the budget is now exceeded (see spend).
--@include spend
local b = redis.call('HGET', KEYS[1], 'budget')
if not b or b == 'null' then return '' end
redis.call('HINCRBY', KEYS[1], 'reservedTokens', -tonumber(ARGV[1]))
redis.call('HINCRBYFLOAT', KEYS[1], 'reservedCostUsd', string.format('%.9f', -tonumber(ARGV[2])))
return spend(KEYS[1], KEYS[2], '{"inputTokens":' .. tonumber(ARGV[3]) .. ',"outputTokens":0,"costUsd":' .. string.format('%.9f', tonumber(ARGV[4])) .. '}', ARGV[5], false)
