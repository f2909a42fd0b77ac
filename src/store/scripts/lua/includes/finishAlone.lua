--@include event
--@include hashOf
--@include usageJson
-- The finish of a single-step run (its step's job is its only one) in the write of its step's
-- result, when the run has the plain shape: live, without a budget, one step, its output the
-- run's. It settles as finishRun would (succeeded, with the step's output and usage) and is
-- compacted at once, each record written once: the step's new fields and the run's final ones
-- go straight into the compact hash (never into the hashes the compaction deletes), and the
-- last two events (step.completed, run.finished) are kept there (the last one published), not appended
-- to the list first. Each hash is read once, whole (HGETALL: only the fields it has). Returns
-- false, having written nothing, when the run has another shape (the caller then writes the
-- step and finishes the run the general way).
-- k: step-complete's KEYS (step, run, events, outbox, steps, refs, queued runs, ...)
-- a: {step = the step's record (its hash as read, by name: see hashOf) with its new fields set,
--     stepIdJson, usage (the step's usage JSON, 'null' for none), eventData (step.completed's
--     data JSON), now, nowJson, outbox (bool), ttl (seconds, as text), defPrefix}
-- The compact records are written in one concatenation each (COMPACT_RUN_DOC, COMPACT_STEP_DOC).
local function finishAlone(k, a)
  local run = hashOf(k[2])
  -- (A status's JSON text is its name quoted: no escapes.)
  if not run.status or TERMINAL[string.sub(run.status, 2, -2)] then return false end
  if (run.budget or 'null') ~= 'null' or run.outputSteps ~= '[' .. a.stepIdJson .. ']' then return false end
  if redis.call('LLEN', k[5]) ~= 1 then return false end
  local step, nowJson = a.step, a.nowJson
  local inTok, outTok, cost, extra = 0, 0, nil, nil
  if a.usage ~= 'null' then
    local u = cjson.decode(a.usage)
    inTok, outTok, cost, extra = u.inputTokens or 0, u.outputTokens or 0, u.costUsd, addExtra(nil, u)
  end
  -- A run whose step began is out of the queued runs already (runStarted).
  local started = run.startedAt and run.startedAt ~= 'null'
  run.status, run.output, run.error, run.finishedAt = '"succeeded"', step.output, 'null', nowJson
  run.startedAt = started and run.startedAt or nowJson
  run.failedSteps, run.skippedSteps, run.usage = '[]', '[]', usageJson(inTok, outTok, cost, nil, extra)
  local events = redis.call('LRANGE', k[3], '0', '-1')
  local n = #events
  local done = eventText('step.completed', a.stepIdJson, a.now, a.eventData)
  local finished = eventText('run.finished', nil, a.now, '{"status":"succeeded","error":null}')
  -- The last one only, with its id (as appendEvents): a viewer reads step.completed before it
  -- from the compacted log, as it reads any gap (event-feed.ts, event-log.ts).
  redis.call('PUBLISH', k[3], (n + 2) .. ' ' .. finished)
  if a.outbox then
    --@include outboxFinished
    outboxFinished(k[4], k[1], a.stepIdJson, step, run)
  end
  if not started then redis.call('ZREM', k[7], k[2]) end
  local defId = run.definitionId
  local hasDef = defId and defId ~= 'null'
  if hasDef then redis.call('EXPIRE', a.defPrefix .. cjson.decode(defId), a.ttl) end
  -- (No definition: left out, as a null field is.)
  local runDoc = COMPACT_RUN_DOC(run, nil, ',"outputSteps":' .. run.outputSteps .. (hasDef and ',"definitionId":' .. defId or '') .. '}')
  local stepsDoc = COMPACT_STEP_DOC(step, '[{', '}]')
  -- The event list: the first one opens it, the last one closes it (none copied whole again).
  events[n + 1], events[n + 2] = done, finished .. ']'
  events[1] = '[' .. events[1]
  redis.call('DEL', k[1], k[2], k[3], k[5], k[6])
  redis.call('HSET', k[2], 'status', '"succeeded"', 'run', runDoc, 'steps', stepsDoc, 'events', table.concat(events, ',', 1, n + 2))
  redis.call('EXPIRE', k[2], a.ttl)
  return true
end
