--@include docOf
--@include workspaceOf
-- Hand a step's record to the outbox, with its workspace (read from its key).
local function outboxStep(outboxKey, stepKey)
  local v = redis.call('HMGET', stepKey, 'runId', 'stepId')
  redis.call('XADD', outboxKey, '*', 'kind', 'step', 'id', cjson.decode(v[1]) .. '.' .. cjson.decode(v[2]), 'doc', docOf(stepKey, STEP_FIELDS), 'ws', workspaceOf(stepKey))
end
