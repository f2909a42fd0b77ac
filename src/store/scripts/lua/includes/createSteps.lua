-- Write the records of new steps (a new run's, or steps a running step adds): each
-- [id, kind, agent JSON, parent JSON, dependsOn JSON text, optional, routing JSON text (a routed step only)] of `plan` that does not exist
-- yet becomes a `pending` record and is appended to the run's step list. With `fresh` (the
-- steps of a run this script created) none can exist: none is looked for. Returns the entries
-- written.
-- A new step's record: the fields every new step has, then `...`, field, JSON text pairs of the
-- ones it may lack (a null field is not written: every reader takes a missing one as null).
local function writeStep(key, s, runIdJson, createdAtJson, ...)
  -- A kind is a plain word: its JSON is the word quoted.
  redis.call('HSET', key, 'runId', runIdJson, 'stepId', cjson.encode(s[1]), 'kind', '"' .. s[2] .. '"', 'agent', s[3],
    'status', '"pending"', 'dependsOn', s[5], 'optional', s[6] and 'true' or 'false', 'attempts', '0',
    'recovered', 'false', 'createdAt', createdAtJson, ...)
end

local function createSteps(stepPrefix, stepsKey, plan, runIdJson, createdAtJson, fresh)
  local added = {}
  for _, s in ipairs(plan) do
    local key = stepPrefix .. s[1]
    if fresh or redis.call('EXISTS', key) == 0 then
      -- A step of the run's own (no parent) has no parent field.
      if s[4] == 'null' then writeStep(key, s, runIdJson, createdAtJson)
      else writeStep(key, s, runIdJson, createdAtJson, 'parent', s[4]) end
      -- A step whose agent was chosen by capability keeps the choice (JSON text).
      if s[7] then redis.call('HSET', key, 'routing', s[7]) end
      redis.call('RPUSH', stepsKey, s[1])
      added[#added + 1] = s
    end
  end
  return added
end
