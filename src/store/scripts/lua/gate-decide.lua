--@include event
-- Record the decision on an approval gate that waits for one: into its checkpoint (which the
-- gate reads when its job wakes), with a step.approved / step.rejected event, once.
-- KEYS: step, events
-- ARGV: [1] decision JSON ({approved, by, comment, at}), [2] event type, [3] now (ISO)
-- Returns {1} when recorded; {0, why} otherwise: 'missing', 'not_a_gate', 'decided',
-- 'revising' (a revision it asked for runs), or the
-- step's status when it does not wait.
local v = redis.call('HMGET', KEYS[1], 'status', 'kind', 'checkpoint', 'stepId')
if not v[1] then return {0, 'missing'} end
if v[2] ~= '"approval"' then return {0, 'not_a_gate'} end
local status = cjson.decode(v[1])
local cp = (v[3] and v[3] ~= 'null') and cjson.decode(v[3]) or nil
if status ~= 'waiting' or type(cp) ~= 'table' or cp.gate ~= 1 then return {0, status} end
if cp.decision then return {0, 'decided'} end
if cp.revising then return {0, 'revising'} end
cp.decision = cjson.decode(ARGV[1])
redis.call('HSET', KEYS[1], 'checkpoint', cjson.encode(cp))
event(KEYS[2], ARGV[2], v[4], ARGV[3], ARGV[1])
return {1}
