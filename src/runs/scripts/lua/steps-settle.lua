-- One part of the settlement of a run too large to settle in one script (see finishRun's
-- a.settled): for each step given, its status, failure, skip and usage, summed here, and its
-- retention TTL. Stops at the first step that has not ended (the caller then leaves the whole
-- settlement to run-finish, which fails the steps whose jobs were lost).
-- ARGV: [1] step key prefix, [2] retention seconds, [3..] step ids
-- Returns {0} at a step that has not ended, else {1, the failed steps' JSON entries (comma
-- separated), how many, the skipped ids' JSON (comma separated), input tokens, output tokens,
-- cost ('' when none was known), the first failed step that is not optional ('' for none)}.
local prefix, ttl = ARGV[1], tonumber(ARGV[2])
local failed, skipped = {}, {}
local inTok, outTok, cost = 0, 0, nil
local required = ''
for i = 3, #ARGV do
  local sid = ARGV[i]
  local sk = prefix .. sid
  local v = redis.call('HMGET', sk, 'status', 'usage', 'agent', 'kind', 'error', 'optional')
  local st = cjson.decode(v[1] or '"cancelled"')
  if not TERMINAL[st] then return {0} end
  redis.call('EXPIRE', sk, ttl)
  local sidJson = cjson.encode(sid)
  if st == 'failed' then
    failed[#failed + 1] = '{"stepId":' .. sidJson .. ',"kind":' .. (v[4] or '"agent"') .. ',"agent":' .. (v[3] or 'null') .. ',"error":' .. (v[5] or 'null') .. '}'
    if v[6] ~= 'true' and required == '' then required = sid end
  elseif st == 'skipped' then
    skipped[#skipped + 1] = sidJson
  end
  local u = v[2]
  if u and u ~= 'null' then
    u = cjson.decode(u)
    inTok = inTok + (u.inputTokens or 0)
    outTok = outTok + (u.outputTokens or 0)
    if u.costUsd then cost = (cost or 0) + u.costUsd end
  end
end
return {1, table.concat(failed, ','), #failed, table.concat(skipped, ','), inTok, outTok, cost and string.format('%.8f', cost) or '', required}
