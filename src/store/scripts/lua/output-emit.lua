-- Keep a work output on its run (the emit_output tool: model/work-output.ts), in the run
-- hash's `outputs` (a JSON list, in the order emitted), only while the step runs the given
-- attempt and its run is live. One output per (step, name): the step emitting a name again
-- replaces its own earlier output (createdAt kept, updatedAt set); the same call key again
-- (a turn delivered again) changes nothing. Appends `output.emitted` {name, format, replaced}.
-- Outputs are strings in records of strings: decoding and encoding them keeps them as they are.
-- KEYS: run, step, events
-- ARGV: [1] the output (JSON: name, format, content, stepId, turn, callKey, createdAt,
--       updatedAt null), [2] attempt, [3] most outputs, [4] most bytes of all of them (JSON),
--       [5] now (ISO)
-- Returns {'stored'}, {'replaced'}, {'unchanged'}, {'missing'} (no such run), {'run_ended',
-- status}, {'stale'} (the step is not running that attempt), {'full', n}, {'too_large', bytes}.
--@include event
local r = redis.call('HMGET', KEYS[1], 'status', 'outputs')
if not r[1] then return {'missing'} end
local status = cjson.decode(r[1])
if TERMINAL[status] then return {'run_ended', status} end
local s = redis.call('HMGET', KEYS[2], 'status', 'attempts', 'stepId')
if s[1] ~= '"running"' or s[2] ~= ARGV[2] then return {'stale'} end
local new = cjson.decode(ARGV[1])
local list = (r[2] and r[2] ~= 'null') and cjson.decode(r[2]) or {}
local at = nil
for i, o in ipairs(list) do
  if o.stepId == new.stepId and o.name == new.name then
    if o.callKey == new.callKey then return {'unchanged'} end
    at = i
  end
end
if at then
  new.createdAt = list[at].createdAt
  new.updatedAt = ARGV[5]
  list[at] = new
elseif #list >= tonumber(ARGV[3]) then
  return {'full', #list}
else
  list[#list + 1] = new
end
local encoded = cjson.encode(list)
if #encoded > tonumber(ARGV[4]) then return {'too_large', #encoded} end
redis.call('HSET', KEYS[1], 'outputs', encoded)
event(KEYS[3], 'output.emitted', s[3], ARGV[5], cjson.encode({ name = new.name, format = new.format, replaced = at ~= nil }))
return {at and 'replaced' or 'stored'}
