-- One part of the settlement of a run too large to settle in one script (see finishRun's
-- a.settled): for each step given, its status, failure, skip and usage, summed here, and its
-- retention TTL. Stops at the first step that has not ended (the caller then leaves the whole
-- settlement to run-finish, which fails the steps whose jobs were lost).
-- ARGV: [1] step key prefix, [2] retention seconds, [3..] step ids
-- Returns {0} at a step that has not ended, else {1, the failed steps' JSON entries (comma
-- separated), how many, the skipped ids' JSON (comma separated), input tokens, output tokens,
-- cost ('' when none was known), the first failed step that is not optional ('' for none)}.
--@include tallyStep
local prefix, ttl = ARGV[1], tonumber(ARGV[2])
local t = { failed = {}, skipped = {}, inTok = 0, outTok = 0, cost = nil, required = nil }
for i = 3, #ARGV do
  local sid = ARGV[i]
  local sk = prefix .. sid
  local v = redis.call('HMGET', sk, 'status', 'usage', 'agent', 'kind', 'error', 'optional')
  local st = cjson.decode(v[1] or '"cancelled"')
  if not TERMINAL[st] then return {0} end
  redis.call('EXPIRE', sk, ttl)
  tallyStep(t, sid, st, v, v[5] or 'null')
end
return {1, table.concat(t.failed, ','), #t.failed, table.concat(t.skipped, ','), t.inTok, t.outTok, t.cost and string.format('%.8f', t.cost) or '', t.required or ''}
