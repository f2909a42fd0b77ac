-- One part of the settlement of a run too large to settle in one script (see finishRun's
-- a.settled): for each step of a slice of the run's step list, its status, failure, skip and
-- usage, summed here, and its retention TTL. Stops at the first step that has not ended (the
-- caller then leaves the whole settlement to run-finish, which fails the steps whose jobs were
-- lost).
-- KEYS: the run's step list
-- ARGV: [1] step key prefix, [2] retention seconds, [3] first index, [4] last index (of the list)
-- Returns {0} at a step that has not ended, else {1, the failed steps' JSON entries (comma
-- separated), how many, the skipped ids' JSON (comma separated), input tokens, output tokens,
-- cost ('' when none was known), the first failed step that is not optional ('' for none), the
-- cache counts summed (JSON, '{}' for none)}.
--@include tallyStep
local prefix, ttl = ARGV[1], tonumber(ARGV[2])
local t = { failed = {}, skipped = {}, inTok = 0, outTok = 0, cost = nil, required = nil }
for _, sid in ipairs(redis.call('LRANGE', KEYS[1], ARGV[3], ARGV[4])) do
  local sk = prefix .. sid
  local v = redis.call('HMGET', sk, 'status', 'usage', 'agent', 'kind', 'error', 'optional')
  local st = cjson.decode(v[1] or '"cancelled"')
  if not TERMINAL[st] then return {0} end
  redis.call('EXPIRE', sk, ttl)
  tallyStep(t, sid, st, v, v[5] or 'null')
end
return {1, table.concat(t.failed, ','), #t.failed, table.concat(t.skipped, ','), t.inTok, t.outTok, t.cost and string.format('%.8f', t.cost) or '', t.required or '', t.extra and cjson.encode(t.extra) or '{}'}
