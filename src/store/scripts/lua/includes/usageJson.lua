-- A usage record as JSON: token counts, and `costUsd` when a cost was known for any of it.
local function usageJson(inTok, outTok, cost)
  if cost then return string.format('{"inputTokens":%d,"outputTokens":%d,"costUsd":%.8f}', inTok, outTok, cost) end
  return string.format('{"inputTokens":%d,"outputTokens":%d}', inTok, outTok)
end
