-- A new run: its record, its steps, its refs, its index entry and its `run.queued` event, at once;
-- the definition it executes is stored once for every run of it (by content), or its time to
-- live renewed. Before anything is written, in the same script: the spend envelopes that hold
-- it (includes/envelopeAtSubmit.lua: a run one of them refuses is not written at all), then
-- the fair turns of its ready jobs on each agent queue they go to (includes/fairTurns.lua), so a
-- submission is one script, its jobs added once it replied.
-- KEYS: run, steps, refs, events, index, outbox, queued runs (a member is the run's key),
--       definition ('' id: none kept),
--       the workflow's index, when the workspace's runs were first indexed by workflow, the
--       workspace's subscriptions that take run.finished, finish notices; then a pair per
--       envelope owner (envelope, its day); then a triple per fair queue (fair state,
--       prioritized set, wait list)
-- ARGV: [1] step key prefix, [2] run id, [3] step plan (see createSteps), [4] ref job ids (JSON
--       list), [5] createdAt (ISO), [6] index score, [7] `run.queued` event data JSON, [8] outbox
--       on ('1'/'0'), [9] definition JSON ('' when the caller believes it is stored: then it must
--       be), [10] definition id ('' for none), [11] retention seconds, [12] envelope owners e,
--       [13] '1' when every model the run may call has a price, [14] fair queues q, [15] the
--       workspace, [16] seconds the fair state lives, [17] the run's schedule ('' for none); then
--       per fair queue: its share, its job key base, n, the n job ids; then the run's fields:
--       field, JSON text, field, JSON text, ...
-- Returns {'refused', per envelope read: owner index, JSON text, tokens, USD} when an envelope
-- refuses the run (nothing written); else {steps written, 1/0 an envelope holds it, then each
-- queue's turns in order (0: the plain wait list)}; or the error NODEF (the definition is not
-- stored: send it).
--@include event
--@include createSteps
--@include envelopeAtSubmit
--@include fairTurns
--@include markFinishNotice
local runKey = KEYS[1]
if redis.call('EXISTS', runKey) == 1 then return redis.error_reply('run already exists') end
local owners, queues = tonumber(ARGV[12]), tonumber(ARGV[14])
local hold, refused, read = envelopeAtSubmit(KEYS, 13, owners, ARGV[13] == '1')
if refused then
  table.insert(read, 1, 'refused')
  return read
end
if ARGV[10] ~= '' then
  if redis.call('EXPIRE', KEYS[8], ARGV[11]) == 0 then
    if ARGV[9] == '' then return redis.error_reply('NODEF definition not stored') end
    redis.call('SET', KEYS[8], ARGV[9], 'EX', ARGV[11])
  end
end
local reply = {0, hold and 1 or 0}
local at = 18
for q = 1, queues do
  local k = 12 + 2 * owners + 3 * q
  local n = tonumber(ARGV[at + 2])
  local turns = fairTurns({ KEYS[k - 2], KEYS[k - 1], KEYS[k] }, ARGV[15], tonumber(ARGV[at]), ARGV[at + 1], ARGV[16], at + 3, n)
  for i = 1, n do reply[#reply + 1] = turns[i] end
  at = at + 3 + n
end
redis.call('HSET', runKey, unpack(ARGV, at))
local runId = ARGV[2]
local runIdJson = cjson.encode(runId)
-- An ISO time needs no JSON escaping (as in eventText).
local created = createSteps(ARGV[1], KEYS[2], cjson.decode(ARGV[3]), runIdJson, '"' .. ARGV[5] .. '"', true)
-- A single-step run has no refs ('[]': not decoded).
if ARGV[4] ~= '[]' then
  local refs = cjson.decode(ARGV[4])
  -- In slices: Lua's unpack takes at most about 8,000 values.
  for i = 1, #refs, 1000 do redis.call('SADD', KEYS[3], unpack(refs, i, math.min(i + 999, #refs))) end
end
redis.call('ZADD', KEYS[5], ARGV[6], runId)
-- The workflow's index holds the runs of the retention period (older ones are listed from the
-- main index: see run-listing.ts), and goes a retention period after its last run. It is pruned
-- and its time to live set at most twice a second: the time to live is set 499 ms past the
-- retention period (TTL still reads the period), so while it is more than the period, it was set
-- less than 499 ms ago and the index lives a retention period after this run already. A new
-- index (no time to live yet) is always kept so, and marks when the workspace's runs were first
-- indexed by workflow. One that lives longer than that (the retention period was shortened)
-- is pruned and given the new period at once.
redis.call('ZADD', KEYS[9], ARGV[6], runId)
local keepMs = tonumber(ARGV[11]) * 1000
local leftMs = redis.call('PTTL', KEYS[9])
if leftMs < keepMs or leftMs > keepMs + 499 then
  redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', '(' .. (tonumber(ARGV[6]) - keepMs))
  redis.call('PEXPIRE', KEYS[9], keepMs + 499)
  redis.call('SET', KEYS[10], ARGV[6], 'NX')
end
redis.call('ZADD', KEYS[7], ARGV[6], runKey)
markFinishNotice(KEYS[11], KEYS[12], runKey, ARGV[17], ARGV[6])
-- Appended, not published: no one follows a run before its id is returned.
redis.call('RPUSH', KEYS[4], eventText('run.queued', nil, ARGV[5], ARGV[7]))
-- The system of record lists live runs too, not only finished ones; the definition goes once.
if ARGV[8] == '1' then
  --@include outboxNewRun
  local definition = ARGV[9]
  if definition == '' and ARGV[10] ~= '' then definition = redis.call('GET', KEYS[8]) end
  if definition == '' then definition = 'null' end
  outboxNewRun(KEYS[6], runKey, runId, definition)
end
reply[1] = #created
return reply
