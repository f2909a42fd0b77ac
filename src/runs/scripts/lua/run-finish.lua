-- Finish a run once (the first caller wins).
-- With a status (cancel, failure), steps not yet finished end `cancelled`. With 'auto' (every
-- step's job is done: the root job settles the run), a step still live lost its job and ends
-- `failed`; the status follows from the failures (a required one → failed, optional ones →
-- partial_success, none → succeeded) and the output is read from the output steps. Sets
-- failedSteps, skippedSteps, the total usage, `run.finished`, and the retention TTL on every key
-- of the run.
-- KEYS: run, steps, refs, events, outbox, queued runs
-- ARGV: [1] status or 'auto', [2] output JSON, [3] error JSON, [4] now (ISO), [5] outbox on,
--       [6] retention seconds, [7] reason JSON given to steps that had not finished,
--       [8] step key prefix
-- Returns {1, status, cancelled steps as a comma list of id=previous-status} when applied,
-- {0, current status} when the run had already finished ('missing' when there is no such run).
--@include event
--@include outboxStep
--@include outboxRun
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {0, 'missing'} end
cur = cjson.decode(cur)
if TERMINAL[cur] then return {0, cur} end
local status, output, errorJson = ARGV[1], ARGV[2], ARGV[3]
local now, outbox, ttl, stepPrefix = ARGV[4], ARGV[5] == '1', tonumber(ARGV[6]), ARGV[8]
local nowJson = cjson.encode(now)
local auto = status == 'auto'
local runIdJson = redis.call('HGET', KEYS[1], 'id')
local steps = redis.call('LRANGE', KEYS[2], 0, -1)
local failed, skipped, cancelled = {}, {}, {}
local requiredFailed = nil
local inTok, outTok = 0, 0
for _, sid in ipairs(steps) do
  local sk = stepPrefix .. sid
  local v = redis.call('HMGET', sk, 'status', 'usage')
  local st = cjson.decode(v[1] or '"cancelled"')
  local sidJson = cjson.encode(sid)
  if not TERMINAL[st] then
    if auto then
      redis.call('HSET', sk, 'status', '"failed"', 'error', cjson.encode(LOST_ERROR), 'finishedAt', nowJson)
      event(KEYS[4], 'step.failed', sidJson, now, '{"error":' .. cjson.encode(LOST_ERROR) .. '}')
      st = 'failed'
    else
      redis.call('HSET', sk, 'status', '"cancelled"', 'reason', ARGV[7], 'finishedAt', nowJson)
      event(KEYS[4], 'step.cancelled', sidJson, now, '{"reason":' .. ARGV[7] .. '}')
      cancelled[#cancelled + 1] = sid .. '=' .. st
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
  redis.call('EXPIRE', sk, ttl)
end
if auto then
  if requiredFailed then
    status = 'failed'
    errorJson = cjson.encode('step "' .. requiredFailed .. '" failed')
  elseif #failed > 0 then status = 'partial_success' else status = 'succeeded' end
  local outs = cjson.decode(redis.call('HGET', KEYS[1], 'outputSteps'))
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
redis.call('ZREM', KEYS[6], cjson.decode(runIdJson))
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ttl) end
return {1, status, table.concat(cancelled, ',')}
