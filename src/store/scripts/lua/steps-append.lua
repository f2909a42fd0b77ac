-- The steps of a new run written in parts (a run too large to write in one script): create-run
-- wrote the run and its first steps, each call of this appends the next part (see createSteps),
-- before any of the run's jobs exists.
-- KEYS: run, steps
-- ARGV: [1] step key prefix, [2] run id, [3] step plan (see createSteps), [4] createdAt (ISO)
-- Returns the number of steps written, or the error ENDED when the run is not queued any more
-- (cancelled while it was being written: nothing is added to it).
--@include createSteps
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= '"queued"' then return redis.error_reply('ENDED the run is ' .. (status and cjson.decode(status) or 'gone')) end
return #createSteps(ARGV[1], KEYS[2], cjson.decode(ARGV[3]), cjson.encode(ARGV[2]), cjson.encode(ARGV[4]))
