-- Finish a run once (the first caller wins).
-- With a status (cancel, failure), steps not yet finished end `cancelled`. With 'auto' (every
-- step's job is done: the root job settles the run), a step still live lost its job and ends
-- `failed`; the status follows from the failures (a required one → failed, optional ones →
-- partial_success, none → succeeded) and the output is read from the output steps. Sets
-- failedSteps, skippedSteps, the total usage, `run.finished`, and the retention TTL on every key
-- of the run and on its definition.
-- A run of at most COMPACT_MAX_STEPS steps none of which was running is then compacted into
-- its run hash (see keys.ts): no answer can arrive for it any more, and its step hashes, step
-- list, ref set and event list are deleted. A run with a step that was running keeps them (that
-- step's answer may still come, and is kept: see step-complete).
-- KEYS: run, steps, refs, events, outbox, queued runs
-- ARGV: [1] status or 'auto', [2] output JSON, [3] error JSON, [4] now (ISO), [5] outbox on,
--       [6] retention seconds, [7] reason JSON given to steps that had not finished,
--       [8] step key prefix, [9] definition key prefix
-- Returns {1, status, {step id, its previous status, its agent ('' for none), ...} of the steps
-- it cancelled, the run's ref job ids} when applied, {0, current status} when the run had already finished ('missing'
-- when there is no such run).
--@include event
--@include outboxStep
--@include outboxRun
--@include docCompact
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {0, 'missing'} end
cur = cjson.decode(cur)
if TERMINAL[cur] then return {0, cur} end
local status, output, errorJson = ARGV[1], ARGV[2], ARGV[3]
local now, outbox, ttl, stepPrefix = ARGV[4], ARGV[5] == '1', tonumber(ARGV[6]), ARGV[8]
local nowJson = cjson.encode(now)
local auto = status == 'auto'
local steps = redis.call('LRANGE', KEYS[2], 0, -1)
local failed, skipped, cancelled = {}, {}, {}
local requiredFailed = nil
local inTok, outTok = 0, 0
local running = false
for _, sid in ipairs(steps) do
  local sk = stepPrefix .. sid
  local v = redis.call('HMGET', sk, 'status', 'usage', 'agent')
  local st = cjson.decode(v[1] or '"cancelled"')
  local sidJson = cjson.encode(sid)
  if st == 'running' then running = true end
  if not TERMINAL[st] then
    if auto then
      redis.call('HSET', sk, 'status', '"failed"', 'error', cjson.encode(LOST_ERROR), 'finishedAt', nowJson)
      event(KEYS[4], 'step.failed', sidJson, now, '{"error":' .. cjson.encode(LOST_ERROR) .. '}')
      st = 'failed'
    else
      redis.call('HSET', sk, 'status', '"cancelled"', 'reason', ARGV[7], 'finishedAt', nowJson)
      event(KEYS[4], 'step.cancelled', sidJson, now, '{"reason":' .. ARGV[7] .. '}')
      cancelled[#cancelled + 1] = sid
      cancelled[#cancelled + 1] = st
      cancelled[#cancelled + 1] = (v[3] and v[3] ~= 'null') and cjson.decode(v[3]) or ''
    end
    if outbox then outboxStep(KEYS[5], sk) end
  end
  if st == 'failed' then
    local f = redis.call('HMGET', sk, 'kind', 'agent', 'error', 'optional')
    failed[#failed + 1] = '{"stepId":' .. sidJson .. ',"kind":' .. (f[1] or '"agent"') .. ',"agent":' .. (f[2] or 'null') .. ',"error":' .. (f[3] or 'null') .. '}'
    if f[4] ~= 'true' and not requiredFailed then requiredFailed = sid end
  elseif st == 'skipped' then
    skipped[#skipped + 1] = sidJson
  end
  local u = v[2]
  if u and u ~= 'null' then
    u = cjson.decode(u)
    inTok = inTok + (u.inputTokens or 0)
    outTok = outTok + (u.outputTokens or 0)
  end
end
local outs = cjson.decode(redis.call('HGET', KEYS[1], 'outputSteps'))
if auto then
  if requiredFailed then
    status = 'failed'
    errorJson = cjson.encode('step "' .. requiredFailed .. '" failed')
  elseif #failed > 0 then status = 'partial_success' else status = 'succeeded' end
  if #outs == 1 then
    output = redis.call('HGET', stepPrefix .. outs[1], 'output') or 'null'
  else
    local parts = {}
    for _, id in ipairs(outs) do
      parts[#parts + 1] = cjson.encode(id) .. ':' .. (redis.call('HGET', stepPrefix .. id, 'output') or 'null')
    end
    output = '{' .. table.concat(parts, ',') .. '}'
  end
end
redis.call('HSET', KEYS[1], 'status', cjson.encode(status), 'output', output, 'error', errorJson,
  'finishedAt', nowJson,
  'failedSteps', '[' .. table.concat(failed, ',') .. ']',
  'skippedSteps', '[' .. table.concat(skipped, ',') .. ']',
  'usage', string.format('{"inputTokens":%d,"outputTokens":%d}', inTok, outTok))
if redis.call('HGET', KEYS[1], 'startedAt') == 'null' then
  redis.call('HSET', KEYS[1], 'startedAt', nowJson)
end
event(KEYS[4], 'run.finished', nil, now, '{"status":' .. cjson.encode(status) .. ',"error":' .. errorJson .. '}')
if outbox then outboxRun(KEYS[5], KEYS[1]) end
local runIdJson = redis.call('HGET', KEYS[1], 'id')
redis.call('ZREM', KEYS[6], cjson.decode(runIdJson))
local refs = redis.call('SMEMBERS', KEYS[3])
local defId = redis.call('HGET', KEYS[1], 'definitionId')
if defId and defId ~= 'null' then redis.call('EXPIRE', ARGV[9] .. cjson.decode(defId), ttl) end

if running or #steps > COMPACT_MAX_STEPS then
  for _, sid in ipairs(steps) do redis.call('EXPIRE', stepPrefix .. sid, ttl) end
  for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ttl) end
  return {1, status, cancelled, refs}
end
-- Compact: one hash holds the finished run; its output is its output steps' (not kept twice).
local runDoc = docCompact(KEYS[1], RUN_FIELDS, { output = true })
runDoc = string.sub(runDoc, 1, -2) .. ',"outputSteps":' .. redis.call('HGET', KEYS[1], 'outputSteps') .. ',"definitionId":' .. (defId or 'null') .. '}'
local stepDocs = {}
for i, sid in ipairs(steps) do
  stepDocs[i] = docCompact(stepPrefix .. sid, STEP_FIELDS, { runId = true })
  redis.call('DEL', stepPrefix .. sid)
end
local events = redis.call('LRANGE', KEYS[4], 0, -1)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('HSET', KEYS[1], 'status', cjson.encode(status), 'run', runDoc, 'steps', '[' .. table.concat(stepDocs, ',') .. ']',
  'events', '[' .. table.concat(events, ',') .. ']')
redis.call('EXPIRE', KEYS[1], ttl)
return {1, status, cancelled, refs}
