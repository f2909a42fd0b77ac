--@include docOf
-- Hand a run's record to the outbox.
local function outboxRun(outboxKey, runKey)
  redis.call('XADD', outboxKey, '*', 'kind', 'run', 'id', cjson.decode(redis.call('HGET', runKey, 'id')), 'doc', docOf(runKey, RUN_FIELDS))
end
