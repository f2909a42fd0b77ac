-- Change a step's status if it is in one of the allowed statuses, with its fields and event, in
-- one step: moving to `running` also starts a queued run; a terminal status goes to the outbox.
-- An approval gate (or agent step) that parks or wakes keeps its run's status in step (syncGates).
-- KEYS: step, run, events, outbox, queued runs, run's step list
-- ARGV: [1] allowed-from statuses (comma list), [2] new status, [3] event type ('' for none),
--       [4] event data JSON, [5] now (ISO), [6] outbox on, [7] change of `attempts` (integer; when
--       not 0 the event data gets the new `attempt`), [8] the attempt the caller runs ('' for
--       any: when given, a step on another attempt is left alone), [9] step key prefix,
--       [10] usage JSON to add to the step's ('' for none: what the delivery paid for since it
--       last recorded; kept on the step even when the change does not apply), [11] this write's
--       id ('' for none), [12] '1' when a move to `running` counts the step against its run's
--       maxSteps (its first start: see countStep), [13..] field, JSON-value pairs.
-- A write is applied once: one whose id the step holds (see writes.lua) was applied already and
-- its reply lost; it gets its reply again and changes nothing.
-- Returns {1, new status, attempts, checkpoint JSON} when applied, {0, current status, attempts}
-- when not (current is 'missing' when there is no such step), {0, current status, attempts, '',
-- why} when maxSteps refused the start (nothing changed); {1, new status, attempts, checkpoint,
-- '', the run budget's warning (its data JSON)} when counting the start gave one (countStep; a
-- replayed start that counts gives the run's warning again). The checkpoint is the one in
-- force once the step leaves `waiting` for `running` (what it waited for may have written it:
-- an approval gate's decision), '' otherwise.
--@include event
--@include runStarted
--@include outboxStep
--@include withAttempt
--@include syncGates
--@include addUsage
--@include addLateUsage
--@include writes
--@include countStep
--@include budgetWarning
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'stepId', 'kind', 'written', 'reason')
if not v[1] then return {0, 'missing', 0} end
local cur = cjson.decode(v[1])
local id = ARGV[11]
local seen = seenWrite(v[5], id)
if seen == '0' then return {0, cur, tonumber(v[2])} end
if seen == '1' then
  local reply = {1, ARGV[2], tonumber(v[2]), ARGV[2] == 'running' and (redis.call('HGET', KEYS[1], 'checkpoint') or 'null') or ''}
  -- A start that counted against maxSteps may have given the run's warning, its reply lost: it is
  -- given again (its notice has one id: a webhook gets it once).
  if ARGV[12] == '1' and ARGV[2] == 'running' then
    local kept = keptWarning(KEYS[2])
    if kept ~= '' then
      reply[5] = ''
      reply[6] = kept
    end
  end
  return reply
end
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do if s == cur then allowed = true end end
local attempts = tonumber(v[2])
if not allowed or (ARGV[8] ~= '' and v[2] ~= ARGV[8]) then
  addLateUsage(KEYS[1], KEYS[2], KEYS[4], ARGV[6] == '1', ARGV[10], true)
  keepWrite(KEYS[1], v[5], id, false)
  return {0, cur, attempts}
end
local over, warned = '', ''
if ARGV[12] == '1' and ARGV[2] == 'running' and (redis.call('HGET', KEYS[1], 'startedAt') or 'null') == 'null' then
  over, warned = countStep(KEYS[2], KEYS[3], v[3], ARGV[5])
  if over ~= '' then return {0, cur, attempts, '', over} end
end
local fields = { 'status', cjson.encode(ARGV[2]) }
local data = ARGV[4]
local delta = tonumber(ARGV[7])
if delta ~= 0 then
  attempts = attempts + delta
  fields[#fields + 1] = 'attempts'
  fields[#fields + 1] = attempts
  data = withAttempt(data, attempts)
end
for i = 13, #ARGV do fields[#fields + 1] = ARGV[i] end
if id ~= '' then
  fields[#fields + 1] = 'written'
  fields[#fields + 1] = noteWrite(v[5], id, true)
end
redis.call('HSET', KEYS[1], unpack(fields))
addUsage(KEYS[1], 'usage', ARGV[10])
local outbox = ARGV[6] == '1'
if ARGV[2] == 'running' then runStarted(KEYS[2], KEYS[3], KEYS[4], KEYS[5], redis.call('HGET', KEYS[2], 'status'), ARGV[5], outbox) end
if ARGV[3] ~= '' then event(KEYS[3], ARGV[3], v[3], ARGV[5], data) end
if outbox and TERMINAL[ARGV[2]] then outboxStep(KEYS[4], KEYS[1]) end
-- An agent step takes part only when it waits, or waited, for a decision on its tool calls.
local gates = v[4] == '"approval"'
if v[4] == '"agent"' then
  gates = asksDecision(v[6])
  for i = 13, #ARGV - 1, 2 do if ARGV[i] == 'reason' and asksDecision(ARGV[i + 1]) then gates = true end end
end
if gates and (ARGV[2] == 'waiting' or cur == 'waiting') then syncGates(KEYS[2], KEYS[6], KEYS[3], ARGV[9], ARGV[5]) end
local cp = ''
if cur == 'waiting' and ARGV[2] == 'running' then cp = redis.call('HGET', KEYS[1], 'checkpoint') or 'null' end
if warned ~= '' then return {1, ARGV[2], attempts, cp, '', warned} end
return {1, ARGV[2], attempts, cp}
