-- Record feedback on a finished step: in its step hash while the run keeps one (and to the
-- outbox), and in the run's feedback hash, which outlives compaction with the run's time to live.
-- KEYS: run, step, feedback hash, outbox. ARGV: [1] step id, [2] feedback JSON, [3] retention
-- seconds, [4] outbox on ('1'/'0').
-- Returns {'recorded', where} (where: step | compacted), {'missing'} (no such run), {'no_step'},
-- or {'not_finished', status}.
--@include outboxStep
local run = redis.call('HMGET', KEYS[1], 'status', 'steps')
if not run[1] then return {'missing'} end
local where
local st = redis.call('HGET', KEYS[2], 'status')
if st then
  local status = cjson.decode(st)
  if not TERMINAL[status] then return {'not_finished', status} end
  redis.call('HSET', KEYS[2], 'feedback', ARGV[2])
  if ARGV[4] == '1' then outboxStep(KEYS[4], KEYS[2]) end
  where = 'step'
elseif run[2] and string.find(run[2], '"stepId":' .. cjson.encode(ARGV[1]), 1, true) then
  -- A compacted run: its steps have all finished.
  where = 'compacted'
else
  return {'no_step'}
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[3], ttl) else redis.call('EXPIRE', KEYS[3], tonumber(ARGV[3])) end
return {'recorded', where}
