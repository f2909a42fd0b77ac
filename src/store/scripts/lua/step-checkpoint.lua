-- Save a step's checkpoint and add to its usage what the delivery paid for since it last
-- recorded, only while the step is running the given attempt (a stale worker cannot overwrite
-- the progress of a newer attempt).
-- The usage is kept on the step even when the checkpoint is not saved.
-- KEYS: step, run, outbox
-- ARGV: [1] attempt, [2] checkpoint JSON ('' keeps it), [3] usage JSON to add ('' for none),
--       [4] outbox on ('1'/'0'), [5] this write's id ('' for none): a write is applied once
--       (see writes.lua); its retry gets its reply again and changes nothing,
--       [6..] field, JSON-value pairs of the step's record to set with it (what it keeps to
--       debug its calls); set too when the step ended (cancelled) while that attempt ran it
-- Returns 1 when saved, else 0.
--@include addUsage
--@include addLateUsage
--@include outboxStep
--@include writes
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'written')
if not v[1] then return 0 end
local id = ARGV[5]
local seen = seenWrite(v[3], id)
if seen then return tonumber(seen) end
local outbox = ARGV[4] == '1'
if v[1] ~= '"running"' or v[2] ~= ARGV[1] then
  local ended = #ARGV > 5 and v[2] == ARGV[1] and TERMINAL[cjson.decode(v[1])]
  if ended then redis.call('HSET', KEYS[1], unpack(ARGV, 6)) end
  addLateUsage(KEYS[1], KEYS[2], KEYS[3], outbox, ARGV[3], not ended)
  if ended and outbox then outboxStep(KEYS[3], KEYS[1]) end
  keepWrite(KEYS[1], v[3], id, false)
  return 0
end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'checkpoint', ARGV[2]) end
if #ARGV > 5 then redis.call('HSET', KEYS[1], unpack(ARGV, 6)) end
keepWrite(KEYS[1], v[3], id, true)
addUsage(KEYS[1], 'usage', ARGV[3])
return 1
