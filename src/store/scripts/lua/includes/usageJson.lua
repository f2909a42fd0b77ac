-- A usage record as JSON: token counts, `costUsd` when a cost was known for any of it, and
-- `estimated` when any of it was estimated (an answer that reported no usage).
local function usageJson(inTok, outTok, cost, estimated)
  local tail = estimated and ',"estimated":true}' or '}'
  if cost then return string.format('{"inputTokens":%d,"outputTokens":%d,"costUsd":%.8f', inTok, outTok, cost) .. tail end
  return string.format('{"inputTokens":%d,"outputTokens":%d', inTok, outTok) .. tail
end
