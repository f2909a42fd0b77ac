--@include event
--@include docOf
--@include usageJson
--@include workspaceOf
-- The finish of a single-step run (its step's job is its only one) in the write of its step's
-- result, when the run has the plain shape: live, without a budget, one step, its output the
-- run's. It settles as finishRun would (succeeded, with the step's output and usage) and is
-- compacted at once, each record written once: the step's new fields and the run's final ones
-- go straight into the compact hash (never into the hashes the compaction deletes), and the
-- last two events (step.completed, run.finished) are published and kept there, not appended
-- to the list first. Returns false, having written nothing, when the run has another shape
-- (the caller then writes the step and finishes the run the general way).
-- k: {step, run, steps, refs, events, outbox, queued runs}
-- a: {fields = the step's new fields (name → JSON text), stepIdJson, usage (the step's usage
--     JSON, 'null' for none), eventData (step.completed's data JSON), now, outbox (bool), ttl,
--     defPrefix}
local RUN_READ = { unpack(RUN_FIELDS) }
RUN_READ[#RUN_READ + 1] = 'outputSteps'
RUN_READ[#RUN_READ + 1] = 'definitionId'
local RUN_AT = {}
for i, f in ipairs(RUN_READ) do RUN_AT[f] = i end

local function finishAlone(k, a)
  local rv = redis.call('HMGET', k[2], unpack(RUN_READ))
  local st = rv[RUN_AT.status]
  if not st or TERMINAL[cjson.decode(st)] then return false end
  if (rv[RUN_AT.budget] or 'null') ~= 'null' or rv[RUN_AT.outputSteps] ~= '[' .. a.stepIdJson .. ']' then return false end
  if redis.call('LLEN', k[3]) ~= 1 then return false end
  local sv = redis.call('HMGET', k[1], unpack(STEP_FIELDS))
  for i, f in ipairs(STEP_FIELDS) do
    if a.fields[f] then sv[i] = a.fields[f] end
  end
  local nowJson = cjson.encode(a.now)
  local inTok, outTok, cost, extra = 0, 0, nil, nil
  if a.usage ~= 'null' then
    local u = cjson.decode(a.usage)
    inTok, outTok, cost, extra = u.inputTokens or 0, u.outputTokens or 0, u.costUsd, addExtra(nil, u)
  end
  local started = rv[RUN_AT.startedAt]
  local final = { status = '"succeeded"', output = a.fields.output, error = 'null', finishedAt = nowJson,
    startedAt = (not started or started == 'null') and nowJson or started, failedSteps = '[]', skippedSteps = '[]', usage = usageJson(inTok, outTok, cost, nil, extra) }
  for i, f in ipairs(RUN_FIELDS) do
    if final[f] then rv[i] = final[f] end
  end
  local events = redis.call('LRANGE', k[5], 0, -1)
  local done = eventText('step.completed', a.stepIdJson, a.now, a.eventData)
  local finished = eventText('run.finished', nil, a.now, '{"status":"succeeded","error":null}')
  redis.call('PUBLISH', k[5], (#events + 1) .. ' ' .. done)
  redis.call('PUBLISH', k[5], (#events + 2) .. ' ' .. finished)
  events[#events + 1] = done
  events[#events + 1] = finished
  if a.outbox then
    local runId = cjson.decode(rv[RUN_AT.id])
    redis.call('XADD', k[6], '*', 'kind', 'step', 'id', runId .. '.' .. cjson.decode(a.stepIdJson), 'doc', docFrom(STEP_FIELDS, sv), 'ws', workspaceOf(k[1]))
    redis.call('XADD', k[6], '*', 'kind', 'run', 'id', runId, 'doc', docFrom(RUN_FIELDS, rv))
  end
  redis.call('ZREM', k[7], k[2])
  local defId = rv[RUN_AT.definitionId]
  if defId and defId ~= 'null' then redis.call('EXPIRE', a.defPrefix .. cjson.decode(defId), a.ttl) end
  local runDoc = docFrom(RUN_FIELDS, rv, { output = true })
  runDoc = string.sub(runDoc, 1, -2) .. ',"outputSteps":' .. rv[RUN_AT.outputSteps] .. ',"definitionId":' .. (defId or 'null') .. '}'
  redis.call('DEL', k[1], k[2], k[3], k[4], k[5])
  redis.call('HSET', k[2], 'status', '"succeeded"', 'run', runDoc, 'steps', '[' .. docFrom(STEP_FIELDS, sv, { runId = true }) .. ']',
    'events', '[' .. table.concat(events, ',') .. ']')
  redis.call('EXPIRE', k[2], a.ttl)
  return true
end
