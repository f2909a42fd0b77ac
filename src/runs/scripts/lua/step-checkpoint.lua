-- Save a step's checkpoint and add to its usage what the delivery paid for since it last
-- recorded, only while the step is running the given attempt (a stale worker cannot overwrite
-- the progress of a newer attempt).
-- KEYS: step
-- ARGV: [1] attempt, [2] checkpoint JSON ('' keeps it), [3] usage JSON to add ('' for none)
-- Returns 1 when saved, else 0.
--@include addUsage
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts')
if v[1] ~= '"running"' or v[2] ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'checkpoint', ARGV[2]) end
addUsage(KEYS[1], 'usage', ARGV[3])
return 1
