-- Save a step's checkpoint, only while the step is running the given attempt (a stale worker
-- cannot overwrite the progress of a newer attempt).
-- KEYS: step
-- ARGV: [1] attempt, [2] checkpoint JSON
-- Returns 1 when saved, else 0.
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts')
if v[1] ~= '"running"' or v[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'checkpoint', ARGV[2])
return 1
