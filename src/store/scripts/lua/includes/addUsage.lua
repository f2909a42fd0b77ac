-- Usage records (JSON; '' or 'null' for none) summed: `have` plus `add`. Nothing is decoded
-- when one side is none (the other is kept as it is).
--@include usageJson
local function sumUsage(have, add)
  if add == '' or add == 'null' then return have or 'null' end
  if not have or have == 'null' then return add end
  local u, h = cjson.decode(add), cjson.decode(have)
  local cost = nil
  if h.costUsd or u.costUsd then cost = (h.costUsd or 0) + (u.costUsd or 0) end
  return usageJson((h.inputTokens or 0) + (u.inputTokens or 0), (h.outputTokens or 0) + (u.outputTokens or 0), cost, h.estimated == true or u.estimated == true,
    addExtra(addExtra(nil, h), u))
end

-- Add a usage record (JSON; '' or 'null' for none) to the one a hash field holds.
local function addUsage(key, field, add)
  if add == '' or add == 'null' then return end
  redis.call('HSET', key, field, sumUsage(redis.call('HGET', key, field), add))
end
