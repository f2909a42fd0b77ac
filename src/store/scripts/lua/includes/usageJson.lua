-- A usage record as JSON: token counts, `costUsd` when a cost was known for any of it,
-- `estimated` when any of it was estimated (an answer that reported no usage), and the cache
-- counts of `extra` that are not 0 (prompt-cache tokens, calls answered from the response cache
-- and what they saved: see USAGE_EXTRA).
local USAGE_EXTRA = { 'cacheReadTokens', 'cacheWriteTokens', 'cachedCalls', 'costSavedUsd' }

-- Add the cache counts of a decoded usage record `u` to `acc` (a table, or nil for none yet);
-- returns it (nil when neither had any).
local function addExtra(acc, u)
  for i = 1, #USAGE_EXTRA do
    local f = USAGE_EXTRA[i]
    local n = u[f]
    if n then
      acc = acc or {}
      acc[f] = (acc[f] or 0) + n
    end
  end
  return acc
end

local function usageJson(inTok, outTok, cost, estimated, extra)
  local tail = estimated and ',"estimated":true}' or '}'
  if extra then
    for i = 1, #USAGE_EXTRA do
      local f = USAGE_EXTRA[i]
      local n = extra[f]
      if n and n > 0 then
        tail = (f == 'costSavedUsd' and string.format(',"%s":%.8f', f, n) or string.format(',"%s":%d', f, n)) .. tail
      end
    end
  end
  if cost then return string.format('{"inputTokens":%d,"outputTokens":%d,"costUsd":%.8f', inTok, outTok, cost) .. tail end
  return string.format('{"inputTokens":%d,"outputTokens":%d', inTok, outTok) .. tail
end
