/**
 * Lua scripts that change run state atomically. Every field of a run or step hash holds JSON
 * text, so a script can assemble a document (for the outbox) by concatenation without
 * decoding and re-encoding it (Redis' cjson turns empty arrays into objects).
 *
 * A step's status is the gate for every write: a transition names the statuses it may start
 * from, so a step that finishes after its run was cancelled cannot overwrite `cancelled`.
 */

const common = `
local TERMINAL = { succeeded = true, failed = true, skipped = true, cancelled = true, partial_success = true }

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
`;

export const STEP_FIELDS = [
  'runId', 'stepId', 'agent', 'status', 'dependsOn', 'optional', 'input', 'output', 'usage', 'model',
  'attempts', 'error', 'reason', 'createdAt', 'startedAt', 'finishedAt',
] as const;

export const RUN_FIELDS = [
  'id', 'workflow', 'status', 'input', 'output', 'error', 'agents', 'failedSteps', 'skippedSteps', 'usage',
  'priority', 'idempotencyKey', 'scheduleId', 'createdAt', 'startedAt', 'finishedAt',
] as const;

const luaList = (fields: readonly string[]) => `{ ${fields.map((f) => `'${f}'`).join(', ')} }`;

/**
 * KEYS: step, run, events, outbox.
 * ARGV: allowed-from statuses (comma list), new status, event type ('' for none), event data JSON,
 *       now (ISO), outbox on ('1'/'0'), then field/JSON-value pairs.
 * The first step to start moves the run from queued to running (with its event and, when the
 * outbox is on, the run's new state for the system of record).
 * Returns {1, new} when applied, {0, current} when the step was not in an allowed status.
 */
export const STEP_TRANSITION = `${common}
local STEP_FIELDS = ${luaList(STEP_FIELDS)}
local RUN_FIELDS = ${luaList(RUN_FIELDS)}
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {0, 'missing'} end
cur = cjson.decode(cur)
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do if s == cur then allowed = true end end
if not allowed then return {0, cur} end
local newStatus = ARGV[2]
local now = ARGV[5]
local args = { 'status', cjson.encode(newStatus) }
for i = 7, #ARGV, 2 do args[#args + 1] = ARGV[i]; args[#args + 1] = ARGV[i + 1] end
redis.call('HSET', KEYS[1], unpack(args))
local runIdJson = redis.call('HGET', KEYS[1], 'runId')
local stepIdJson = redis.call('HGET', KEYS[1], 'stepId')
if newStatus == 'running' then
  local rs = cjson.decode(redis.call('HGET', KEYS[2], 'status'))
  if rs == 'queued' then
    redis.call('HSET', KEYS[2], 'status', '"running"', 'startedAt', cjson.encode(now))
    event(KEYS[3], 'run.started', runIdJson, nil, now, '{}')
    if ARGV[6] == '1' then
      redis.call('XADD', KEYS[4], '*', 'kind', 'run', 'id', cjson.decode(runIdJson), 'doc', docOf(KEYS[2], RUN_FIELDS))
    end
  end
end
if ARGV[3] ~= '' then event(KEYS[3], ARGV[3], runIdJson, stepIdJson, now, ARGV[4]) end
if ARGV[6] == '1' and TERMINAL[newStatus] then
  redis.call('XADD', KEYS[4], '*', 'kind', 'step', 'id', cjson.decode(runIdJson) .. '.' .. cjson.decode(stepIdJson), 'doc', docOf(KEYS[1], STEP_FIELDS))
end
return {1, newStatus}
`;

/**
 * KEYS: run, events, outbox.
 * ARGV: status, output JSON, error JSON, now (ISO), outbox on ('1'/'0'), retention seconds,
 *       reason JSON given to steps that had not finished.
 * Steps not yet finished end `cancelled`; failed/skipped steps and token usage are summed up.
 * Returns {1, status, cancelled step ids (comma list)} when applied, {0, current} when the run
 * had already finished.
 */
export const RUN_FINISH = `${common}
local STEP_FIELDS = ${luaList(STEP_FIELDS)}
local RUN_FIELDS = ${luaList(RUN_FIELDS)}
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {0, 'missing'} end
cur = cjson.decode(cur)
if TERMINAL[cur] then return {0, cur} end
local status, now, outbox, ttl = ARGV[1], ARGV[4], ARGV[5] == '1', tonumber(ARGV[6])
local runIdJson = redis.call('HGET', KEYS[1], 'id')
local steps = cjson.decode(redis.call('HGET', KEYS[1], 'steps'))
local failed, skipped, cancelled = {}, {}, {}
local inTok, outTok = 0, 0
for _, sid in ipairs(steps) do
  local sk = KEYS[1] .. ':s:' .. sid
  local st = cjson.decode(redis.call('HGET', sk, 'status'))
  local sidJson = cjson.encode(sid)
  if not TERMINAL[st] then
    redis.call('HSET', sk, 'status', '"cancelled"', 'reason', ARGV[7], 'finishedAt', cjson.encode(now))
    cancelled[#cancelled + 1] = sid
    event(KEYS[2], 'step.cancelled', runIdJson, sidJson, now, '{"reason":' .. ARGV[7] .. '}')
    if outbox then
      redis.call('XADD', KEYS[3], '*', 'kind', 'step', 'id', cjson.decode(runIdJson) .. '.' .. sid, 'doc', docOf(sk, STEP_FIELDS))
    end
  elseif st == 'failed' then
    local v = redis.call('HMGET', sk, 'agent', 'error')
    failed[#failed + 1] = '{"stepId":' .. sidJson .. ',"agent":' .. v[1] .. ',"error":' .. (v[2] or 'null') .. '}'
  elseif st == 'skipped' then
    skipped[#skipped + 1] = sidJson
  end
  local u = redis.call('HGET', sk, 'usage')
  if u and u ~= 'null' then
    u = cjson.decode(u)
    inTok = inTok + (u.inputTokens or 0)
    outTok = outTok + (u.outputTokens or 0)
  end
  redis.call('EXPIRE', sk, ttl)
end
redis.call('HSET', KEYS[1], 'status', cjson.encode(status), 'output', ARGV[2], 'error', ARGV[3],
  'finishedAt', cjson.encode(now),
  'failedSteps', '[' .. table.concat(failed, ',') .. ']',
  'skippedSteps', '[' .. table.concat(skipped, ',') .. ']',
  'usage', string.format('{"inputTokens":%d,"outputTokens":%d}', inTok, outTok))
if redis.call('HGET', KEYS[1], 'startedAt') == 'null' then
  redis.call('HSET', KEYS[1], 'startedAt', cjson.encode(now))
end
event(KEYS[2], 'run.finished', runIdJson, nil, now, '{"status":' .. cjson.encode(status) .. ',"error":' .. ARGV[3] .. '}')
if outbox then
  redis.call('XADD', KEYS[3], '*', 'kind', 'run', 'id', cjson.decode(runIdJson), 'doc', docOf(KEYS[1], RUN_FIELDS))
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
return {1, status, table.concat(cancelled, ',')}
`;
