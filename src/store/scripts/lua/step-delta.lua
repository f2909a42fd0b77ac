-- A `step.delta` (a streaming step's text as it arrived), published only while the step is
-- running the given attempt, and live only: published on the run's event channel, never
-- appended to its log. The message is `d<n> <event JSON>`, n the log's length when it was
-- published (the id of the event it follows), so a viewer puts it in order among the log's
-- events (see event-feed.ts).
-- KEYS: step, events
-- ARGV: [1] attempt, [2] now (ISO), [3] event data JSON
-- Returns 1 when published, else 0.
--@include event
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'stepId')
if v[1] ~= '"running"' or v[2] ~= ARGV[1] then return 0 end
local n = redis.call('LLEN', KEYS[2])
redis.call('PUBLISH', KEYS[2], 'd' .. n .. ' ' .. eventText('step.delta', v[3], ARGV[2], ARGV[3]))
return 1
