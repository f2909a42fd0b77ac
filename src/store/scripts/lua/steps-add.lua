-- A running step adds steps to its run: their records (with `parent`), their place in the run's
-- step list, their refs, `step.added` events, and any new agent in the run's `agents`. Steps that
-- already exist are left alone, so a step delivered again adds nothing twice.
-- KEYS: run, steps, refs, events, parent step
-- ARGV: [1] step key prefix, [2] attempt of the parent (the gate), [3] now (ISO), [4] step plan
--       (see createSteps), [5] ref job ids (JSON list), [6] agents of the new steps (JSON list),
--       [7] most steps the run may have ('' for no bound)
-- Returns {1, number of steps written} when applied, {0, parent status} when the parent is not
-- running that attempt, {0, 'too_many', steps the run has, steps it would add} when the new
-- ones would take the run past its bound (nothing is written then).
--@include event
--@include createSteps
local p = redis.call('HMGET', KEYS[5], 'status', 'attempts', 'stepId')
if not p[1] then return {0, 'missing'} end
if p[1] ~= '"running"' or p[2] ~= ARGV[2] then return {0, cjson.decode(p[1])} end
local plan = cjson.decode(ARGV[4])
local max = tonumber(ARGV[7])
if max then
  -- Only steps not there yet count (a parent delivered again re-adds the same ids).
  local have = redis.call('LLEN', KEYS[2])
  if have + #plan > max then
    local new = 0
    for _, s in ipairs(plan) do
      if redis.call('EXISTS', ARGV[1] .. s[1]) == 0 then new = new + 1 end
    end
    if have + new > max then return {0, 'too_many', have, new} end
  end
end
local run = redis.call('HMGET', KEYS[1], 'id', 'agents')
local runIdJson = run[1]
local nowJson = cjson.encode(ARGV[3])
local added = createSteps(ARGV[1], KEYS[2], plan, runIdJson, nowJson)
for _, s in ipairs(added) do
  event(KEYS[4], 'step.added', cjson.encode(s[1]), ARGV[3],
    '{"parent":' .. s[4] .. ',"kind":' .. cjson.encode(s[2]) .. ',"agent":' .. s[3] .. ',"dependsOn":' .. s[5] .. '}')
end
local refs = cjson.decode(ARGV[5])
-- In slices: Lua's unpack takes at most about 8,000 values.
for i = 1, #refs, 1000 do redis.call('SADD', KEYS[3], unpack(refs, i, math.min(i + 999, #refs))) end
-- `agents` is a sorted JSON list of names: add the new ones.
local have, seen = {}, {}
for name in string.gmatch(run[2] or '', '"([^"]+)"') do
  have[#have + 1] = name
  seen[name] = true
end
local grew = false
for _, name in ipairs(cjson.decode(ARGV[6])) do
  if not seen[name] then
    have[#have + 1] = name
    seen[name] = true
    grew = true
  end
end
if grew then
  table.sort(have)
  for i, name in ipairs(have) do have[i] = cjson.encode(name) end
  redis.call('HSET', KEYS[1], 'agents', '[' .. table.concat(have, ',') .. ']')
end
return {1, #added}
