-- The spend envelopes that hold a run about to be created (model/envelope.ts): the workspace's,
-- and its key's when a key submits it. A run is refused (nothing is written) while one of them
-- has spent its day (spentTokens >= maxTokensPerDay, or spentCostUsd >= maxCostUsdPerDay), or
-- when one caps cost and some model the run may call has no price (`priced` false). The caller
-- words the refusal from what was read (src/submit/envelope-check.ts).
-- keys: the envelopes' keys, a pair per owner (keys.envelope, keys.envelopeDay of today), from
-- k[first]; n: how many owners.
-- Returns hold (an envelope holds the run), refused, and per owner read: its index (from 1),
-- its JSON text, tokens and USD spent today (as stored).
local function envelopeAtSubmit(k, first, n, priced)
  local hold, refused, read = false, false, {}
  for i = 1, n do
    local text = redis.call('GET', k[first + 2 * i - 2])
    if text then
      hold = true
      local e = cjson.decode(text)
      local spent = redis.call('HMGET', k[first + 2 * i - 1], 'spentTokens', 'spentCostUsd')
      local tokens, cost = tonumber(spent[1] or '0') or 0, tonumber(spent[2] or '0') or 0
      local maxTokens, maxCost = e.maxTokensPerDay, e.maxCostUsdPerDay
      if type(maxTokens) == 'number' and tokens >= maxTokens then refused = true end
      if type(maxCost) == 'number' and (cost >= maxCost or not priced) then refused = true end
      read[#read + 1] = i
      read[#read + 1] = text
      read[#read + 1] = spent[1] or '0'
      read[#read + 1] = spent[2] or '0'
    end
  end
  return hold, refused, read
end
