-- Add a usage record (JSON; '' or 'null' for none) to the one a hash field holds.
--@include usageJson
local function addUsage(key, field, add)
  if add == '' or add == 'null' then return end
  local u = cjson.decode(add)
  local have = redis.call('HGET', key, field)
  local h = { inputTokens = 0, outputTokens = 0 }
  if have and have ~= 'null' then h = cjson.decode(have) end
  local cost = nil
  if h.costUsd or u.costUsd then cost = (h.costUsd or 0) + (u.costUsd or 0) end
  redis.call('HSET', key, field, usageJson((h.inputTokens or 0) + (u.inputTokens or 0), (h.outputTokens or 0) + (u.outputTokens or 0), cost))
end
