-- Helpers shared by the state scripts. Every field of a run or step hash holds JSON text, so a
-- script assembles a document (for the outbox) by concatenation, without decoding and
-- re-encoding it (Redis' cjson turns empty arrays into objects). cjson.decode is used only on
-- scalars and on lists the caller built.

local function docOf(key, fields)
  local vals = redis.call('HMGET', key, unpack(fields))
  local parts = {}
  for i, f in ipairs(fields) do
    local v = vals[i]
    if not v then v = 'null' end
    parts[#parts + 1] = cjson.encode(f) .. ':' .. v
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

local function event(eventsKey, etype, runIdJson, stepIdJson, at, dataJson)
  local e = '{"type":' .. cjson.encode(etype) .. ',"runId":' .. runIdJson
  if stepIdJson then e = e .. ',"stepId":' .. stepIdJson end
  e = e .. ',"at":' .. cjson.encode(at) .. ',"data":' .. dataJson .. '}'
  redis.call('XADD', eventsKey, '*', 'e', e)
end

local function outboxStep(outboxKey, stepKey)
  local v = redis.call('HMGET', stepKey, 'runId', 'stepId')
  redis.call('XADD', outboxKey, '*', 'kind', 'step', 'id', cjson.decode(v[1]) .. '.' .. cjson.decode(v[2]), 'doc', docOf(stepKey, STEP_FIELDS))
end

local function outboxRun(outboxKey, runKey)
  redis.call('XADD', outboxKey, '*', 'kind', 'run', 'id', cjson.decode(redis.call('HGET', runKey, 'id')), 'doc', docOf(runKey, RUN_FIELDS))
end

-- `{"attempt":n, ...data}` as text.
local function withAttempt(dataJson, attempt)
  local head = '{"attempt":' .. attempt
  if dataJson == '{}' then return head .. '}' end
  return head .. ',' .. string.sub(dataJson, 2)
end

-- The first step to start moves its run from queued to running.
local function runStarted(runKey, eventsKey, outboxKey, runIdJson, now, outbox)
  if redis.call('HGET', runKey, 'status') ~= '"queued"' then return end
  redis.call('HSET', runKey, 'status', '"running"', 'startedAt', cjson.encode(now))
  event(eventsKey, 'run.started', runIdJson, nil, now, '{}')
  if outbox then outboxRun(outboxKey, runKey) end
end

-- Write the records of new steps (a new run's, or steps a running step adds): each
-- [id, kind, agent JSON, parent JSON, dependsOn JSON text, optional] of `plan` that does not exist yet
-- becomes a `pending` record and is appended to the run's step list. Returns the ids written.
local function createSteps(stepPrefix, stepsKey, plan, runIdJson, createdAtJson)
  local added = {}
  for _, s in ipairs(plan) do
    local key = stepPrefix .. s[1]
    if redis.call('EXISTS', key) == 0 then
      redis.call('HSET', key, 'runId', runIdJson, 'stepId', cjson.encode(s[1]), 'kind', cjson.encode(s[2]), 'agent', s[3],
        'parent', s[4], 'status', '"pending"', 'dependsOn', s[5], 'optional', s[6] and 'true' or 'false', 'attempts', '0',
        'recovered', 'false', 'createdAt', createdAtJson)
      redis.call('RPUSH', stepsKey, s[1])
      added[#added + 1] = s
    end
  end
  return added
end
