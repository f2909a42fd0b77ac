-- A new run: its record, its steps, its refs, its index entry and its `run.queued` event, at once;
-- the definition it executes is stored once for every run of it (by content), or its time to
-- live renewed.
-- KEYS: run, steps, refs, events, index, outbox, queued runs (a member is the run's key),
--       definition ('' id: none kept),
--       the workflow's index, when the workspace's runs were first indexed by workflow
-- ARGV: [1] step key prefix, [2] run id, [3] step plan (see createSteps), [4] ref job ids (JSON
--       list), [5] createdAt (ISO), [6] index score, [7] `run.queued` event data JSON, [8] outbox
--       on ('1'/'0'), [9] definition JSON ('' when the caller believes it is stored: then it must
--       be), [10] definition id ('' for none), [11] retention seconds, [12..] the run's fields:
--       field, JSON text, field, JSON text, ...
-- Returns the number of steps written, or the error NODEF (the definition is not stored: send it).
--@include docOf
--@include event
--@include createSteps
local runKey = KEYS[1]
if redis.call('EXISTS', runKey) == 1 then return redis.error_reply('run already exists') end
if ARGV[10] ~= '' then
  if redis.call('EXPIRE', KEYS[8], ARGV[11]) == 0 then
    if ARGV[9] == '' then return redis.error_reply('NODEF definition not stored') end
    redis.call('SET', KEYS[8], ARGV[9], 'EX', ARGV[11])
  end
end
redis.call('HSET', runKey, unpack(ARGV, 12))
local runId = ARGV[2]
local runIdJson = cjson.encode(runId)
local created = createSteps(ARGV[1], KEYS[2], cjson.decode(ARGV[3]), runIdJson, cjson.encode(ARGV[5]), true)
local refs = cjson.decode(ARGV[4])
-- In slices: Lua's unpack takes at most about 8,000 values.
for i = 1, #refs, 1000 do redis.call('SADD', KEYS[3], unpack(refs, i, math.min(i + 999, #refs))) end
redis.call('ZADD', KEYS[5], ARGV[6], runId)
-- The workflow's index holds the runs of the retention period (older ones are listed from the
-- main index: see run-listing.ts), and goes a retention period after its last run.
redis.call('ZADD', KEYS[9], ARGV[6], runId)
redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', '(' .. (tonumber(ARGV[6]) - tonumber(ARGV[11]) * 1000))
redis.call('EXPIRE', KEYS[9], ARGV[11])
redis.call('SET', KEYS[10], ARGV[6], 'NX')
redis.call('ZADD', KEYS[7], ARGV[6], runKey)
-- Appended, not published: no one follows a run before its id is returned.
redis.call('RPUSH', KEYS[4], eventText('run.queued', nil, ARGV[5], ARGV[7]))
-- The system of record lists live runs too, not only finished ones; the definition goes once.
if ARGV[8] == '1' then
  local definition = ARGV[9]
  if definition == '' and ARGV[10] ~= '' then definition = redis.call('GET', KEYS[8]) end
  if definition == '' then definition = 'null' end
  redis.call('XADD', KEYS[6], '*', 'kind', 'run', 'id', runId, 'doc', docOf(runKey, RUN_FIELDS), 'definition', definition)
end
return #created
