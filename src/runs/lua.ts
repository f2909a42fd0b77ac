/**
 * Lua scripts that change run state atomically. Every field of a run or step hash holds JSON
 * text, so a script can assemble a document (for the outbox) by concatenation without
 * decoding and re-encoding it (Redis' cjson turns empty arrays into objects).
 *
 * A step's status is the gate for every write: a transition names the statuses it may start
 * from, so a step that finishes after its run was cancelled cannot overwrite `cancelled`.
 */
import { LIVE_STEP_STATUSES, LOST_STEP_ERROR, RunRecord, StepRecord, TERMINAL_RUN_STATUSES, TERMINAL_STEP_STATUSES } from './types.js';

/** The fields of a step hash and of a run hash: those of the record schemas. */
export const STEP_FIELDS = StepRecord.keyof().options;
export const RUN_FIELDS = RunRecord.keyof().options;

const luaList = (fields: readonly string[]) => `{ ${fields.map((f) => `'${f}'`).join(', ')} }`;
const luaSet = (names: readonly string[]) => `{ ${[...new Set(names)].map((n) => `${n} = true`).join(', ')} }`;

const common = `
local TERMINAL = ${luaSet([...TERMINAL_STEP_STATUSES, ...TERMINAL_RUN_STATUSES])}
local LIVE = ${luaSet(LIVE_STEP_STATUSES)}
local STEP_FIELDS = ${luaList(STEP_FIELDS)}
local RUN_FIELDS = ${luaList(RUN_FIELDS)}

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
  local runId = cjson.decode(redis.call('HGET', stepKey, 'runId'))
  local stepId = cjson.decode(redis.call('HGET', stepKey, 'stepId'))
  redis.call('XADD', outboxKey, '*', 'kind', 'step', 'id', runId .. '.' .. stepId, 'doc', docOf(stepKey, STEP_FIELDS))
end

-- Set a step's status and fields (a flat list of field, JSON value), with its event; the first
-- step to start moves the run from queued to running; a finished step goes to the outbox.
local function applyStep(stepKey, runKey, eventsKey, outboxKey, newStatus, fields, etype, edata, now, outbox)
  local args = { 'status', cjson.encode(newStatus) }
  for i = 1, #fields do args[#args + 1] = fields[i] end
  redis.call('HSET', stepKey, unpack(args))
  local runIdJson = redis.call('HGET', stepKey, 'runId')
  if newStatus == 'running' then
    local rs = cjson.decode(redis.call('HGET', runKey, 'status'))
    if rs == 'queued' then
      redis.call('HSET', runKey, 'status', '"running"', 'startedAt', cjson.encode(now))
      event(eventsKey, 'run.started', runIdJson, nil, now, '{}')
      if outbox then
        redis.call('XADD', outboxKey, '*', 'kind', 'run', 'id', cjson.decode(runIdJson), 'doc', docOf(runKey, RUN_FIELDS))
      end
    end
  end
  if etype ~= '' then event(eventsKey, etype, runIdJson, redis.call('HGET', stepKey, 'stepId'), now, edata) end
  if outbox and TERMINAL[newStatus] then outboxStep(outboxKey, stepKey) end
end
`;

/**
 * KEYS: step, run, events, outbox.
 * ARGV: allowed-from statuses (comma list), new status, event type ('' for none), event data JSON,
 *       now (ISO), outbox on ('1'/'0'), then field/JSON-value pairs.
 * Returns {1, new} when applied, {0, current} when the step was not in an allowed status.
 */
export const STEP_TRANSITION = `${common}
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {0, 'missing'} end
cur = cjson.decode(cur)
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do if s == cur then allowed = true end end
if not allowed then return {0, cur} end
local fields = {}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
applyStep(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2], fields, ARGV[3], ARGV[4], ARGV[5], ARGV[6] == '1')
return {1, ARGV[2]}
`;

/**
 * A `step.progress` event, appended only while the step is running the given attempt (so a
 * late report never lands after the step ended, nor on a later attempt).
 * KEYS: step, events. ARGV: attempt, now (ISO), event data JSON.
 * Returns 1 when appended, else 0.
 */
export const STEP_PROGRESS = `${common}
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'runId', 'stepId')
if v[1] ~= '"running"' or v[2] ~= ARGV[1] then return 0 end
event(KEYS[2], 'step.progress', v[3], v[4], ARGV[2], ARGV[3])
return 1
`;

/**
 * The start of a step in one round trip: read the run, the step and the steps it reads, and
 * — on the fast path (allowed by the caller, every dependency succeeded or failed optional) —
 * move the step to running.
 * KEYS: run, step, events, outbox.
 * ARGV: attempt, now (ISO), outbox on, fast path allowed ('1'/'0'), number of dependencies,
 *       a string of '1'/'0' per step read (is its output needed?), then the ids of the
 *       dependencies followed by the other steps to read.
 * Returns {mode, step status, run status, run input JSON, startedAt JSON, then per step read:
 * id, status JSON, optional JSON, output JSON (null when not needed)}; mode is
 * missing | done | slow | running.
 */
export const STEP_BEGIN = `${common}
local rs = redis.call('HGET', KEYS[1], 'status')
local st = redis.call('HGET', KEYS[2], 'status')
if not rs or not st then return {'missing'} end
rs, st = cjson.decode(rs), cjson.decode(st)
if TERMINAL[st] or TERMINAL[rs] then return {'done', st, rs} end
local out = {'slow', st, rs, redis.call('HGET', KEYS[1], 'input'), redis.call('HGET', KEYS[2], 'startedAt')}
local ndeps = tonumber(ARGV[5])
local needs = ARGV[6]
local fast = ARGV[4] == '1' and LIVE[st]
for i = 7, #ARGV do
  local k = i - 6
  local sk = KEYS[1] .. ':s:' .. ARGV[i]
  local v
  -- A join of many steps whose outputs it does not read fetches only their statuses.
  if string.sub(needs, k, k) == '1' then
    v = redis.call('HMGET', sk, 'status', 'optional', 'output')
  else
    v = redis.call('HMGET', sk, 'status', 'optional')
  end
  local dst = v[1] or '"cancelled"'
  out[#out + 1] = ARGV[i]
  out[#out + 1] = dst
  out[#out + 1] = v[2] or 'false'
  out[#out + 1] = v[3] or 'null'
  if k <= ndeps and not (dst == '"succeeded"' or (dst == '"failed"' and v[2] == 'true')) then fast = false end
end
if fast then
  local fields = { 'attempts', ARGV[1], 'error', 'null', 'reason', 'null' }
  if out[5] == 'null' or not out[5] then
    fields[#fields + 1] = 'startedAt'
    fields[#fields + 1] = cjson.encode(ARGV[2])
  end
  applyStep(KEYS[2], KEYS[1], KEYS[3], KEYS[4], 'running', fields, 'step.started', '{"attempt":' .. ARGV[1] .. '}', ARGV[2], ARGV[3] == '1')
  out[1] = 'running'
end
return out
`;

/**
 * The step records of a new run, written server-side from one compact argument (a run of a
 * thousand steps is one string to send, not a thousand commands).
 * KEYS: run.
 * ARGV: run id JSON, createdAt JSON, then a JSON array of [step id, agent, dependsOn as JSON
 *       text, optional] per step.
 */
export const CREATE_STEPS = `
local runIdJson, createdAt = ARGV[1], ARGV[2]
for _, s in ipairs(cjson.decode(ARGV[3])) do
  redis.call('HSET', KEYS[1] .. ':s:' .. s[1], 'runId', runIdJson, 'stepId', cjson.encode(s[1]), 'agent', cjson.encode(s[2]),
    'status', '"pending"', 'attempts', '0', 'dependsOn', s[3], 'optional', s[4] and 'true' or 'false', 'createdAt', createdAt)
end
return #ARGV[3]
`;

/**
 * KEYS: run, events, outbox.
 * ARGV: status (or 'auto'), output JSON, error JSON, now (ISO), outbox on ('1'/'0'), retention
 *       seconds, reason JSON given to steps that had not finished, then (auto only) what to do
 *       with a step still live: 'lost' (fail it) or 'wait' (change nothing, return {0, 'live'}).
 * With a status (cancel, failure), steps not yet finished end `cancelled`. With 'auto' (every
 * step is done: the root job settles the run), a step still live lost its job and ends
 * `failed`; the status follows from the failures (a required one → failed, optional ones →
 * partial_success, none → succeeded) and the output is read from the output steps.
 * Returns {1, status, cancelled steps as a comma list of id=previous-status} when applied,
 * {0, current} when the run had already finished.
 */
export const RUN_FINISH = `${common}
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {0, 'missing'} end
cur = cjson.decode(cur)
if TERMINAL[cur] then return {0, cur} end
local status, output, errorJson = ARGV[1], ARGV[2], ARGV[3]
local now, outbox, ttl = ARGV[4], ARGV[5] == '1', tonumber(ARGV[6])
local auto = status == 'auto'
local runIdJson = redis.call('HGET', KEYS[1], 'id')
local steps = cjson.decode(redis.call('HGET', KEYS[1], 'steps'))
-- One read per step (status, usage), before anything changes.
local states, usages = {}, {}
for i, sid in ipairs(steps) do
  local v = redis.call('HMGET', KEYS[1] .. ':s:' .. sid, 'status', 'usage')
  states[i], usages[i] = cjson.decode(v[1]), v[2]
  if auto and ARGV[8] == 'wait' and not TERMINAL[states[i]] then return {0, 'live'} end
end
local failed, skipped, cancelled = {}, {}, {}
local requiredFailed = nil
local inTok, outTok = 0, 0
local LOST = ${JSON.stringify(LOST_STEP_ERROR)}
for i, sid in ipairs(steps) do
  local sk = KEYS[1] .. ':s:' .. sid
  local st = states[i]
  local sidJson = cjson.encode(sid)
  if not TERMINAL[st] then
    if auto then
      redis.call('HSET', sk, 'status', '"failed"', 'error', cjson.encode(LOST), 'finishedAt', cjson.encode(now))
      event(KEYS[2], 'step.failed', runIdJson, sidJson, now, '{"error":' .. cjson.encode(LOST) .. '}')
      st = 'failed'
    else
      redis.call('HSET', sk, 'status', '"cancelled"', 'reason', ARGV[7], 'finishedAt', cjson.encode(now))
      event(KEYS[2], 'step.cancelled', runIdJson, sidJson, now, '{"reason":' .. ARGV[7] .. '}')
      cancelled[#cancelled + 1] = sid .. '=' .. st
    end
    if outbox then outboxStep(KEYS[3], sk) end
  end
  if st == 'failed' then
    local v = redis.call('HMGET', sk, 'agent', 'error', 'optional')
    failed[#failed + 1] = '{"stepId":' .. sidJson .. ',"agent":' .. v[1] .. ',"error":' .. (v[2] or 'null') .. '}'
    if v[3] ~= 'true' and not requiredFailed then requiredFailed = sid end
  elseif st == 'skipped' then
    skipped[#skipped + 1] = sidJson
  end
  local u = usages[i]
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
    output = redis.call('HGET', KEYS[1] .. ':s:' .. outs[1], 'output') or 'null'
  else
    local parts = {}
    for _, id in ipairs(outs) do
      parts[#parts + 1] = cjson.encode(id) .. ':' .. (redis.call('HGET', KEYS[1] .. ':s:' .. id, 'output') or 'null')
    end
    output = '{' .. table.concat(parts, ',') .. '}'
  end
end
redis.call('HSET', KEYS[1], 'status', cjson.encode(status), 'output', output, 'error', errorJson,
  'finishedAt', cjson.encode(now),
  'failedSteps', '[' .. table.concat(failed, ',') .. ']',
  'skippedSteps', '[' .. table.concat(skipped, ',') .. ']',
  'usage', string.format('{"inputTokens":%d,"outputTokens":%d}', inTok, outTok))
if redis.call('HGET', KEYS[1], 'startedAt') == 'null' then
  redis.call('HSET', KEYS[1], 'startedAt', cjson.encode(now))
end
event(KEYS[2], 'run.finished', runIdJson, nil, now, '{"status":' .. cjson.encode(status) .. ',"error":' .. errorJson .. '}')
if outbox then
  redis.call('XADD', KEYS[3], '*', 'kind', 'run', 'id', cjson.decode(runIdJson), 'doc', docOf(KEYS[1], RUN_FIELDS))
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
return {1, status, table.concat(cancelled, ',')}
`;
