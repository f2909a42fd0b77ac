-- A `step.progress` event, appended only while the step is running the given attempt (so a
-- late report never lands after the step ended, nor on a later attempt).
-- KEYS: step, events
-- ARGV: [1] attempt, [2] now (ISO), [3] event data JSON
-- Returns 1 when appended, else 0.
--@include event
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'stepId')
if v[1] ~= '"running"' or v[2] ~= ARGV[1] then return 0 end
event(KEYS[2], 'step.progress', v[3], ARGV[2], ARGV[3])
return 1
