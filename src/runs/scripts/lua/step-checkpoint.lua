-- Save a step's checkpoint and add to its usage what the delivery paid for since it last
-- recorded, only while the step is running the given attempt (a stale worker cannot overwrite
-- the progress of a newer attempt).
-- The usage is kept on the step even when the checkpoint is not saved.
-- KEYS: step, run, outbox
-- ARGV: [1] attempt, [2] checkpoint JSON ('' keeps it), [3] usage JSON to add ('' for none),
--       [4] outbox on ('1'/'0'), [5] this write's id ('' for none): a write is applied once
--       (see writes.lua); its retry gets its reply again and changes nothing
-- Returns 1 when saved, else 0.
--@include addUsage
--@include addLateUsage
--@include writes
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'written')
if not v[1] then return 0 end
local id = ARGV[5]
local seen = seenWrite(v[3], id)
if seen then return tonumber(seen) end
if v[1] ~= '"running"' or v[2] ~= ARGV[1] then
  addLateUsage(KEYS[1], KEYS[2], KEYS[3], ARGV[4] == '1', ARGV[3], true)
  keepWrite(KEYS[1], v[3], id, false)
  return 0
end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'checkpoint', ARGV[2]) end
keepWrite(KEYS[1], v[3], id, true)
addUsage(KEYS[1], 'usage', ARGV[3])
return 1
