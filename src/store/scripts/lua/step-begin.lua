-- The start of a step in one round trip: read the run, the step and the steps it reads, and on
-- the fast path move the step to running. The fast path is the one unambiguous case of the
-- engine's decision (src/engine/decide.ts), its rule stated in src/model/run.ts (FAST_FROM,
-- FAST_DEP, FAST_DEP_OPTIONAL come from there: see usableDep): allowed by the caller (no
-- `when`, no join other than `all`), the step in FAST_FROM with attempts left, the run live,
-- every dependency usable. Anything else is only read, and the caller decides. A step that counts against its
-- run's maxSteps is counted as it first starts (countStep); one the limit refuses is not started.
-- KEYS: run, step, events, outbox, queued runs
-- ARGV: [1] now (ISO), [2] outbox on, [3] fast path allowed, [4] step key prefix, [5] number of
--       dependencies, [6] one '1'/'0' per step read (is its output needed?), [7] most attempts,
--       [8] '1' when the step counts against maxSteps, [9..] the ids of the dependencies, then
--       of the other steps read.
-- Returns {mode, step status, run status, attempts, run input, startedAt, checkpoint, the run
-- budget's warning (its data JSON, or '': see countStep), then per step read: id, status,
-- optional, output}, JSON values; mode is missing | read | started; or {'over', step status,
-- run status, why} when maxSteps refused to start it.
--@include event
--@include runStarted

local v = redis.call('HMGET', KEYS[2], 'status', 'attempts', 'startedAt', 'checkpoint', 'stepId')
local rs = redis.call('HMGET', KEYS[1], 'status', 'input', 'budget')
if not v[1] or not rs[1] then return {'missing'} end
-- Statuses are JSON strings of plain names: their text without the quotes.
local st, runSt = string.sub(v[1], 2, -2), string.sub(rs[1], 2, -2)
local out = {'read', v[1], rs[1], v[2], rs[2], v[3] or 'null', v[4] or 'null', ''}
if TERMINAL[st] or TERMINAL[runSt] then return out end
local ndeps, needs = tonumber(ARGV[5]), ARGV[6]
local attempts = tonumber(v[2])
local fast = ARGV[3] == '1' and FAST_FROM[st] and attempts < tonumber(ARGV[7])
-- The steps it reads, if any (a block: their functions and the dependency rule's sets are made
-- only for a step that reads some; a single-step run's reads none).
if #ARGV >= 9 then
  --@include readStep usableDep
  for i = 9, #ARGV do
    local k = i - 8
    local dst, optional, output = readStep(ARGV[4] .. ARGV[i], string.sub(needs, k, k) == '1')
    out[#out + 1] = ARGV[i]
    out[#out + 1] = dst
    out[#out + 1] = optional
    out[#out + 1] = output
    if k <= ndeps and not usableDep(dst, optional) then fast = false end
  end
end
-- (A run without a budget, most, has nothing to count: countStep's functions are not made.)
if fast and ARGV[8] == '1' and out[6] == 'null' and rs[3] and rs[3] ~= 'null' then
  --@include countStep
  local over, warned = countStep(KEYS[1], KEYS[3], v[5], ARGV[1], rs[3])
  if over ~= '' then return {'over', v[1], rs[1], over} end
  out[8] = warned
end
if fast then
  -- As text once (a number is formatted each time it is made a string; a first attempt's is not).
  local attempt = v[2] == '0' and '1' or tostring(attempts + 1)
  -- A step still `pending` (as created) has no error, reason or retry time to clear (a missing
  -- field reads as null); one that waited or failed before has.
  local fields = { 'status', '"running"', 'attempts', attempt }
  if st ~= 'pending' then
    for _, f in ipairs({ 'error', 'null', 'reason', 'null', 'recovered', 'false', 'retryAt', 'null' }) do fields[#fields + 1] = f end
  end
  if out[6] == 'null' then
    fields[#fields + 1] = 'startedAt'
    fields[#fields + 1] = '"' .. ARGV[1] .. '"'
  end
  redis.call('HSET', KEYS[2], unpack(fields))
  -- The run's start and the step's, appended in one command.
  local texts = {}
  runStarted(KEYS[1], KEYS[3], KEYS[4], KEYS[5], rs[1], ARGV[1], ARGV[2] == '1', texts)
  texts[#texts + 1] = eventText('step.started', v[5], ARGV[1], '{"attempt":' .. attempt .. '}')
  appendEvents(KEYS[3], texts)
  out[1] = 'started'
  out[4] = attempt
end
return out
