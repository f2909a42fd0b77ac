-- Record a step's result (an agent's paid answer) durably. A step still live (running, or
-- pending/retrying when a stale attempt's answer arrives after a newer attempt was scheduled)
-- becomes `succeeded`; the usage given (what this delivery paid for since it last recorded) is
-- added to the step's (what its earlier attempts and waits recorded). A step already finished
-- keeps its status, but a paid answer is never dropped: its usage is added to the step's (and to its run's, once the run has finished), and
-- its output is kept when the step had none (e.g. cancelled while the call was in flight).
-- A step that is its run's only job (a single-step run has no root job) finishes its run in the
-- same write, as the root would: see finishAlone (the plain shape, written once) and finishRun.
-- KEYS: step, run, events, outbox; when it may finish the run (ARGV[9]) also steps, refs, queued
--       runs, the run's holds, finish notices, the workspace's subscriptions that take run.finished
-- ARGV: [1] now (ISO), [2] outbox on, [3] output JSON, [4] usage JSON, [5] model JSON,
--       [6] input JSON, [7] step.completed event data JSON (an object with at least one field; the
--       step's usage is put in front), [8] checkpoint JSON ('' keeps it),
--       [9] finish the run ('1'/'0'), [10] retention seconds, [11] step key prefix,
--       [12] definition key prefix (11 and 12 '' unless it may finish the run), [13] reusedFrom JSON ('' for none: a rerun reused the output),
--       [14] '1' when the run's provider calls counted their usage as they ended (budget-settle:
--       then only the step is counted here), [15] what it publishes into the run's context
--       ('' for nothing: see publish), [16] this write's id ('' for none), [17] n: how many
--       field, JSON-value pairs of the step's record follow, to set with it (what it keeps to
--       debug its calls), [18..17+2n] those pairs, [18+2n..] the JSON values published
-- A write is applied once: one whose id the step holds (see writes.lua) was applied already and
-- its reply lost; it gets its reply again (the budget verdict as it stands now) and adds nothing.
-- Returns {1, 'succeeded', run finished (1/0), run status, why the run's budget is exceeded
-- ('' when it is not; see spend), when it finished the run: afterFinish's holds and notice (else
-- 0, 0), the run budget's warning (its data JSON; '' for none: see spend, a replayed write
-- returns a warning given before)} when recorded as the result,
-- {0, status} when the step had finished ('missing' when there is no such step).
--@include writes
--@include addUsage
--@include event
--@include hashOf
-- (The includes of a path few writes take are inside its block: see script.ts's luaSource.)
-- A write that may finish its run alone reads the step whole, once (finishAlone compacts it).
local alone = ARGV[9] == '1' and ARGV[15] == ''
local step, status, stepIdJson, output, written, had
if alone then
  step = hashOf(KEYS[1])
  status, stepIdJson, output, written, had = step.status, step.stepId, step.output, step.written, step.usage
else
  local v = redis.call('HMGET', KEYS[1], 'status', 'stepId', 'output', 'written', 'usage')
  status, stepIdJson, output, written, had = v[1], v[2], v[3], v[4], v[5]
end
if not status then return {0, 'missing'} end
-- (A status's JSON text is its name quoted: no escapes.)
local cur = string.sub(status, 2, -2)
local outbox = ARGV[2] == '1'
local id = ARGV[16]
local extra = 17 + 2 * tonumber(ARGV[17])
local seen = seenWrite(written, id)
-- The reply of a result recorded: whether it finished the run and what that write read
-- (afterFinish), and spend's verdict and warning.
local function recorded(finished, status, over, warned, holds, notice)
  return {1, 'succeeded', finished, status, over, holds or 0, notice or 0, warned}
end
if seen == '1' then
  --@include spend
  return recorded(0, '', spend(KEYS[2], KEYS[3], 'null', ARGV[1], true))
end
if seen == '0' then return {0, cur} end
if cur == 'running' or cur == 'pending' or cur == 'retrying' then
  local usage = sumUsage(had, ARGV[4])
  local nowJson = '"' .. ARGV[1] .. '"'
  local eventData = '{"usage":' .. usage .. ',' .. string.sub(ARGV[7], 2)
  if alone then
    --@include finishAlone afterFinish
    -- The step's record as it would be written: its new fields of the record (as `fields` below,
    -- where a later one of a name wins) set in place, not listed first (the finish compacts it).
    step.status, step.output, step.model, step.input, step.error, step.reason, step.finishedAt, step.usage =
      '"succeeded"', ARGV[3], ARGV[5], ARGV[6], 'null', 'null', nowJson, usage
    if ARGV[13] ~= '' then step.reusedFrom = ARGV[13] end
    for i = 18, extra, 2 do step[ARGV[i]] = ARGV[i + 1] end
    if finishAlone(KEYS, {
        step = step, stepIdJson = stepIdJson, usage = usage, eventData = eventData, now = ARGV[1], nowJson = nowJson,
        outbox = outbox, ttl = ARGV[10], defPrefix = ARGV[12],
      }) then
      local holds, notice = afterFinish({ KEYS[8], KEYS[9], KEYS[10], KEYS[2] })
      return recorded(1, 'succeeded', '', '', holds, notice)
    end
  end
  local fields = { 'status', '"succeeded"', 'output', ARGV[3], 'model', ARGV[5], 'input', ARGV[6],
    'error', 'null', 'reason', 'null', 'finishedAt', nowJson, 'usage', usage }
  if ARGV[8] ~= '' then
    fields[#fields + 1] = 'checkpoint'
    fields[#fields + 1] = ARGV[8]
  end
  if ARGV[13] ~= '' then
    fields[#fields + 1] = 'reusedFrom'
    fields[#fields + 1] = ARGV[13]
  end
  if id ~= '' then
    fields[#fields + 1] = 'written'
    fields[#fields + 1] = noteWrite(written, id, true)
  end
  for i = 18, extra do fields[#fields + 1] = ARGV[i] end
  --@include spend
  redis.call('HSET', KEYS[1], unpack(fields))
  event(KEYS[3], 'step.completed', stepIdJson, ARGV[1], eventData)
  if ARGV[15] ~= '' then
    --@include publish
    publish(KEYS[2], KEYS[3], ARGV[15], extra + 1, ARGV[1])
  end
  if outbox then
    --@include outboxStep
    outboxStep(KEYS[4], KEYS[1])
  end
  local over, warned = spend(KEYS[2], KEYS[3], ARGV[14] == '1' and 'null' or ARGV[4], ARGV[1], false)
  if ARGV[9] == '1' then
    --@include finishRun
    local f = finishRun({ KEYS[2], KEYS[5], KEYS[6], KEYS[3], KEYS[4], KEYS[7], KEYS[8], KEYS[9], KEYS[10] }, {
      status = 'auto', output = 'null', errorJson = 'null', now = ARGV[1], outbox = outbox,
      ttl = ARGV[10], reasonJson = '"run finished"', stepPrefix = ARGV[11], defPrefix = ARGV[12],
    })
    return recorded(f[1], f[2], over, warned, f[5], f[6])
  end
  return recorded(0, '', over, warned)
end
-- A late answer (a block: its includes and the constants they name are made on this path only).
do
  --@include addLateUsage outboxStep
  addLateUsage(KEYS[1], KEYS[2], KEYS[4], outbox, ARGV[4])
  keepWrite(KEYS[1], written, id, false)
  if not output or output == 'null' then
    redis.call('HSET', KEYS[1], 'output', ARGV[3], 'model', ARGV[5], 'input', ARGV[6], unpack(ARGV, 18, extra))
  end
  if outbox and TERMINAL[cur] then outboxStep(KEYS[4], KEYS[1]) end
  return {0, cur}
end
