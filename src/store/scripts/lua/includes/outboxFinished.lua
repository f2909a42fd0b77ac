--@include docOf
--@include workspaceOf
-- Hand a single-step run's records to the outbox as finishAlone settled them (by name, see
-- hashOf): its step's, with its workspace (read from the step's key), then its own.
local function outboxFinished(outboxKey, stepKey, stepIdJson, step, run)
  local runId = cjson.decode(run.id)
  redis.call('XADD', outboxKey, '*', 'kind', 'step', 'id', runId .. '.' .. cjson.decode(stepIdJson), 'doc', docFromMap(STEP_FIELDS, step), 'ws', workspaceOf(stepKey))
  redis.call('XADD', outboxKey, '*', 'kind', 'run', 'id', runId, 'doc', docFromMap(RUN_FIELDS, run))
end
