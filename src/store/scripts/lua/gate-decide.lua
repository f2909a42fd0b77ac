--@include event
-- Record a person's decision on a step that waits for one: an approval gate, or an agent step
-- whose tool calls wait for approval (its checkpoint says `awaiting`). The decision goes into its
-- checkpoint (which the step reads when its job wakes), with a step.approved / step.rejected
-- event, once.
-- KEYS: step, events
-- ARGV: [1] decision JSON ({approved, by, comment, at}), [2] event type, [3] now (ISO)
-- Returns {1, agent JSON} when recorded; {0, why, agent JSON} otherwise: 'missing', 'not_a_gate',
-- 'decided', 'revising' (a revision it asked for runs), or the step's status when it does not
-- wait. The agent tells whose queue holds the step's job ('null': the control queue).
local v = redis.call('HMGET', KEYS[1], 'status', 'kind', 'checkpoint', 'stepId', 'agent')
if not v[1] then return {0, 'missing', 'null'} end
local agent = v[5] or 'null'
local tools = v[2] == '"agent"'
if v[2] ~= '"approval"' and not tools then return {0, 'not_a_gate', agent} end
local status = cjson.decode(v[1])
local cp = (v[3] and v[3] ~= 'null') and cjson.decode(v[3]) or nil
if tools then
  -- An agent step that never waits for a decision is no gate; one that waited and goes on is decided.
  if type(cp) ~= 'table' or cp.orchestrator ~= 1 or (not cp.awaiting and not cp.approvals) then return {0, 'not_a_gate', agent} end
  if status ~= 'waiting' or not cp.awaiting then return {0, status == 'waiting' and 'waiting for the steps it added' or status, agent} end
  if cp.decision then return {0, 'decided', agent} end
  -- Spliced into the JSON text rather than re-encoded: cjson would turn its empty arrays into objects.
  local text = v[3]:gsub('%s*$', '')
  redis.call('HSET', KEYS[1], 'checkpoint', string.sub(text, 1, -2) .. ',"decision":' .. ARGV[1] .. '}')
  event(KEYS[2], ARGV[2], v[4], ARGV[3], ARGV[1])
  return {1, agent}
end
if status ~= 'waiting' or type(cp) ~= 'table' or cp.gate ~= 1 then return {0, status, agent} end
if cp.decision then return {0, 'decided', agent} end
if cp.revising then return {0, 'revising', agent} end
cp.decision = cjson.decode(ARGV[1])
redis.call('HSET', KEYS[1], 'checkpoint', cjson.encode(cp))
event(KEYS[2], ARGV[2], v[4], ARGV[3], ARGV[1])
return {1, agent}
