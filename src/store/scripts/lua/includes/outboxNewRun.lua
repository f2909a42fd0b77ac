--@include docOf
-- Hand a new run's record to the outbox, with its definition (JSON text, 'null' for none).
local function outboxNewRun(outboxKey, runKey, runId, definition)
  redis.call('XADD', outboxKey, '*', 'kind', 'run', 'id', runId, 'doc', docOf(runKey, RUN_FIELDS), 'definition', definition)
end
