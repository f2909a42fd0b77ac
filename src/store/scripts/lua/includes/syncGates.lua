--@include event
-- Keep a run's status in step with its approval gates (and agent steps whose tool calls wait
-- for approval): `waiting` while one of them waits for a person's decision (its reason starts
-- with GATE_REASON), `running` otherwise. A run that is not running or waiting is left alone.
-- Called by step-transition when a gate or an agent step parks or wakes.
-- Whether a step's reason (its JSON text as the hash holds it) says it waits for a person's decision.
local function asksDecision(reasonJson)
  return type(reasonJson) == 'string' and string.sub(reasonJson, 1, #GATE_REASON + 1) == '"' .. GATE_REASON
end

local function syncGates(runKey, stepsKey, eventsKey, stepPrefix, now)
  local rs = redis.call('HGET', runKey, 'status')
  if not rs then return end
  local cur = cjson.decode(rs)
  if cur ~= 'running' and cur ~= 'waiting' then return end
  local gate = nil
  for _, sid in ipairs(redis.call('LRANGE', stepsKey, 0, -1)) do
    local v = redis.call('HMGET', stepPrefix .. sid, 'kind', 'status', 'reason')
    if (v[1] == '"approval"' or v[1] == '"agent"') and v[2] == '"waiting"' and asksDecision(v[3]) then
      gate = sid
      break
    end
  end
  local want = gate and 'waiting' or 'running'
  if want == cur then return end
  redis.call('HSET', runKey, 'status', cjson.encode(want))
  if gate then event(eventsKey, 'run.waiting', nil, now, '{"step":' .. cjson.encode(gate) .. '}')
  else event(eventsKey, 'run.resumed', nil, now, '{}') end
end
