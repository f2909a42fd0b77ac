--@include event
-- Keep a run's status in step with its approval gates: `waiting` while one of them waits for
-- a person's decision (its reason starts with GATE_REASON), `running` otherwise. Called when a
-- gate parks and when one resumes; a run that is not running or waiting is left alone.
-- KEYS: run, steps, events
-- ARGV: [1] step key prefix, [2] now (ISO)
-- Returns the run's status in force ('missing' when there is no such run).
local rs = redis.call('HGET', KEYS[1], 'status')
if not rs then return 'missing' end
local cur = cjson.decode(rs)
if cur ~= 'running' and cur ~= 'waiting' then return cur end
local gate = nil
for _, sid in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local v = redis.call('HMGET', ARGV[1] .. sid, 'kind', 'status', 'reason')
  if v[1] == '"approval"' and v[2] == '"waiting"' and v[3] and string.sub(v[3], 1, #GATE_REASON + 1) == '"' .. GATE_REASON then
    gate = sid
    break
  end
end
local want = gate and 'waiting' or 'running'
if want ~= cur then
  redis.call('HSET', KEYS[1], 'status', cjson.encode(want))
  if gate then event(KEYS[3], 'run.waiting', nil, ARGV[2], '{"step":' .. cjson.encode(gate) .. '}')
  else event(KEYS[3], 'run.resumed', nil, ARGV[2], '{}') end
end
return want
