--@include event
--@include outboxStep
--@include outboxRun
--@include hashOf
--@include usageJson
--@include tallyStep
--@include afterFinish
-- The output of the steps `ids` (their JSON, read from their hashes): the single one's output
-- when `single` and there is one, else an object by step id.
local function outputOf(stepPrefix, ids, single)
  if single and #ids == 1 then return redis.call('HGET', stepPrefix .. ids[1], 'output') or 'null' end
  local parts = {}
  for _, id in ipairs(ids) do
    parts[#parts + 1] = cjson.encode(id) .. ':' .. (redis.call('HGET', stepPrefix .. id, 'output') or 'null')
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- Finish a run once (the first caller wins): see run-finish.lua, which calls only this.
-- k: {run, steps, refs, events, outbox, queued runs, the run's holds, finish notices, the
--     workspace's subscriptions that take run.finished}
-- a: {status ('auto' or a final one), output, errorJson, now, outbox (bool), ttl (seconds, as
--     text: a number given to redis.call is formatted on every call), reasonJson, stepPrefix,
--     defPrefix, settled}
-- a.settled (only with 'auto'): the steps already read and given their TTL by the caller, in
-- short commands (a run too large to settle in one script): {failed = JSON list of the failed
-- steps, skipped = JSON list of ids, usage = usage JSON, nFailed, requiredFailed = id or nil}.
local function finishRun(k, a)
  local r = redis.call('HMGET', k[1], 'status', 'id', 'outputSteps', 'startedAt', 'definitionId')
  if not r[1] then return {0, 'missing'} end
  local cur = cjson.decode(r[1])
  if TERMINAL[cur] then return {0, cur} end
  local outputStepsJson, defId = r[3], r[5]
  local status, output, errorJson = a.status, a.output, a.errorJson
  local now, outbox, ttl, stepPrefix = a.now, a.outbox, a.ttl, a.stepPrefix
  local nowJson = cjson.encode(now)
  local auto = status == 'auto'
  local steps = a.settled and {} or redis.call('LRANGE', k[2], '0', '-1')
  local cancelled = {}
  local t = { failed = {}, skipped = {}, inTok = 0, outTok = 0, cost = nil, required = nil }
  local running = false
  -- A run its budget stopped has the outputs it got: those of its own steps (not the steps they
  -- added: a forEach's items, a loop's drafts, delegations) that succeeded, by id.
  local kept = (status == 'budget_exceeded' and output == 'null') and {} or nil
  for _, sid in ipairs(steps) do
    local sk = stepPrefix .. sid
    local v = redis.call('HMGET', sk, 'status', 'usage', 'agent', 'kind', 'error', 'optional', 'parent')
    local st = cjson.decode(v[1] or '"cancelled"')
    if st == 'running' then running = true end
    if not TERMINAL[st] then
      local sidJson = cjson.encode(sid)
      if auto then
        redis.call('HSET', sk, 'status', '"failed"', 'error', cjson.encode(LOST_ERROR), 'finishedAt', nowJson)
        event(k[4], 'step.failed', sidJson, now, '{"error":' .. cjson.encode(LOST_ERROR) .. '}')
        st = 'failed'
      else
        redis.call('HSET', sk, 'status', '"cancelled"', 'reason', a.reasonJson, 'finishedAt', nowJson)
        event(k[4], 'step.cancelled', sidJson, now, '{"reason":' .. a.reasonJson .. '}')
        cancelled[#cancelled + 1] = sid
        cancelled[#cancelled + 1] = st
        cancelled[#cancelled + 1] = (v[3] and v[3] ~= 'null') and cjson.decode(v[3]) or ''
      end
      if outbox then outboxStep(k[5], sk) end
    end
    -- A step failed here (lost) has the error just written, not the one read above.
    tallyStep(t, sid, st, v, v[1] == '"failed"' and (v[5] or 'null') or cjson.encode(LOST_ERROR))
    if kept and st == 'succeeded' and (v[7] or 'null') == 'null' then kept[#kept + 1] = sid end
  end
  if kept then output = outputOf(stepPrefix, kept, false) end
  local requiredFailed = a.settled and a.settled.requiredFailed or t.required
  local failedJson = a.settled and a.settled.failed or ('[' .. table.concat(t.failed, ',') .. ']')
  local skippedJson = a.settled and a.settled.skipped or ('[' .. table.concat(t.skipped, ',') .. ']')
  local nFailed = a.settled and a.settled.nFailed or #t.failed
  local outs = cjson.decode(outputStepsJson)
  if auto then
    if requiredFailed then
      status = 'failed'
      errorJson = cjson.encode('step "' .. requiredFailed .. '" failed')
    elseif nFailed > 0 then status = 'partial_success' else status = 'succeeded' end
    output = outputOf(stepPrefix, outs, true)
  end
  redis.call('HSET', k[1], 'status', cjson.encode(status), 'output', output, 'error', errorJson,
    'finishedAt', nowJson, 'startedAt', (not r[4] or r[4] == 'null') and nowJson or r[4],
    'failedSteps', failedJson,
    'skippedSteps', skippedJson,
    'usage', a.settled and a.settled.usage or usageJson(t.inTok, t.outTok, t.cost, nil, t.extra))
  event(k[4], 'run.finished', nil, now, '{"status":' .. cjson.encode(status) .. ',"error":' .. errorJson .. '}')
  if outbox then outboxRun(k[5], k[1]) end
  redis.call('ZREM', k[6], k[1])
  local refs = redis.call('SMEMBERS', k[3])
  if defId and defId ~= 'null' then redis.call('EXPIRE', a.defPrefix .. cjson.decode(defId), ttl) end

  if a.settled or running or #steps > COMPACT_MAX_STEPS then
    for _, sid in ipairs(steps) do redis.call('EXPIRE', stepPrefix .. sid, ttl) end
    for i = 1, 4 do redis.call('EXPIRE', k[i], ttl) end
    return {1, status, cancelled, refs, afterFinish({ k[7], k[8], k[9], k[1] })}
  end
  -- Compact: one hash holds the finished run. The output of a run that settled by itself is
  -- its output steps' (not kept twice); a run ended by a caller keeps the output it was given.
  local runDoc = COMPACT_RUN_DOC(hashOf(k[1]), nil, ',"outputSteps":' .. outputStepsJson
    .. ((defId and defId ~= 'null') and (',"definitionId":' .. defId) or '') .. (auto and '' or (',"output":' .. output)) .. '}')
  local stepDocs = {}
  for i, sid in ipairs(steps) do
    stepDocs[i] = COMPACT_STEP_DOC(hashOf(stepPrefix .. sid))
    redis.call('DEL', stepPrefix .. sid)
  end
  local events = redis.call('LRANGE', k[4], '0', '-1')
  redis.call('DEL', k[1], k[2], k[3], k[4])
  redis.call('HSET', k[1], 'status', cjson.encode(status), 'run', runDoc, 'steps', '[' .. table.concat(stepDocs, ',') .. ']',
    'events', '[' .. table.concat(events, ',') .. ']')
  redis.call('EXPIRE', k[1], ttl)
  return {1, status, cancelled, refs, afterFinish({ k[7], k[8], k[9], k[1] })}
end
