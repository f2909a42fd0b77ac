--@include docOf
-- Hand a step's record to the outbox, with its workspace (`ws`: read from its key, keys.ts's `<tag>:ws:<ws>:run:...`).
local function outboxStep(outboxKey, stepKey)
  local v = redis.call('HMGET', stepKey, 'runId', 'stepId')
  local ws = string.match(stepKey, ':ws:([^:]+):run:') or 'default'
  redis.call('XADD', outboxKey, '*', 'kind', 'step', 'id', cjson.decode(v[1]) .. '.' .. cjson.decode(v[2]), 'doc', docOf(stepKey, STEP_FIELDS), 'ws', ws)
end
