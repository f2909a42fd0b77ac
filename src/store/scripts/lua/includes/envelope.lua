-- Spend envelopes (keys.envelope): what a workspace, or one of its API keys, may spend per UTC
-- day. An envelope's day (keys.envelopeDay) is a hash: spentTokens, spentCostUsd,
-- reservedTokens, reservedCostUsd, warned; its reservations (keys.envelopeLeases) a sorted set
-- of `<lease> <tokens> <cost>` by expiry (ms), as a run's reservations are leases in its holds.
-- The run's hold of a reservation (holdEntry 'r') names the envelope days it also holds, so a
-- release (settle, holds-release) gives back both.
--@include extendTtl

-- How long an envelope's day is kept from its first write (yesterday stays readable).
local ENVELOPE_DAY_MS = 2 * 86400000

local function envelopeLease(lease, tokensText, costText) return lease .. ' ' .. tokensText .. ' ' .. costText end

-- Drop the day's expired reservations (a lost worker's), giving back what they held.
local function envelopeSweep(dayKey, leasesKey, now)
  local expired = redis.call('ZRANGEBYSCORE', leasesKey, '-inf', now)
  if #expired == 0 then return end
  local tk, c = 0, 0
  for _, e in ipairs(expired) do
    local a, b = string.match(e, '^%S+ (%S+) (%S+)$')
    if a then tk, c = tk + tonumber(a), c + tonumber(b) end
  end
  redis.call('ZREMRANGEBYSCORE', leasesKey, '-inf', now)
  if tk > 0 then redis.call('HINCRBY', dayKey, 'reservedTokens', -tk) end
  if c > 0 then redis.call('HINCRBYFLOAT', dayKey, 'reservedCostUsd', string.format('%.9f', -c)) end
end

local function envUsd(x) return '$' .. string.format('%.4f', x) end
-- A limit as it was set: $5.00, $0.005.
local function envLimit(x)
  if math.abs(x * 100 - math.floor(x * 100 + 0.5)) < 1e-9 then return '$' .. string.format('%.2f', x) end
  return '$' .. tostring(x)
end

-- Why a call of `tokens` and `cost` does not fit envelope `limits` (decoded) today: '' when it
-- fits; 'wait ...' when only the reservations in flight leave no room; else why it never will
-- today (spent and this call pass the limit). `name`: `workspace acme`; `resets`: ISO time.
local function envelopeCheck(name, limits, dayKey, tokens, cost, resets)
  local v = redis.call('HMGET', dayKey, 'spentTokens', 'reservedTokens', 'spentCostUsd', 'reservedCostUsd')
  local function n(x) return tonumber(x or '0') or 0 end
  local mt, mc = limits.maxTokensPerDay, limits.maxCostUsdPerDay
  if type(mt) == 'number' and n(v[1]) + tokens > mt then
    return 'budget exceeded: ' .. name .. "'s daily token envelope " .. tostring(mt) .. ' would be passed by a call of about ' .. tokens ..
      ' tokens (spent ' .. n(v[1]) .. ' today; it resets at ' .. resets .. ')'
  end
  if type(mc) == 'number' and n(v[3]) + cost > mc then
    return 'budget exceeded: ' .. name .. "'s daily cost envelope " .. envLimit(mc) .. ' would be passed by a call of about ' .. envUsd(cost) ..
      ' (spent ' .. envUsd(n(v[3])) .. ' today; it resets at ' .. resets .. ')'
  end
  if type(mt) == 'number' and n(v[1]) + n(v[2]) + tokens > mt then
    return 'wait ' .. name .. "'s daily token envelope " .. tostring(mt) .. ' (spent ' .. n(v[1]) .. ', in flight ' .. n(v[2]) .. ', this call about ' .. tokens .. ')'
  end
  if type(mc) == 'number' and n(v[3]) + n(v[4]) + cost > mc then
    return 'wait ' .. name .. "'s daily cost envelope " .. envLimit(mc) .. ' (spent ' .. envUsd(n(v[3])) .. ', in flight ' .. envUsd(n(v[4])) ..
      ', this call about ' .. envUsd(cost) .. ')'
  end
  return ''
end

-- Hold a reservation against the day (checked first by envelopeCheck).
local function envelopeReserve(dayKey, leasesKey, lease, tokensText, costText, expiresAt, leaseMs)
  redis.call('HINCRBY', dayKey, 'reservedTokens', tonumber(tokensText))
  redis.call('HINCRBYFLOAT', dayKey, 'reservedCostUsd', costText)
  if redis.call('PTTL', dayKey) < 0 then redis.call('PEXPIRE', dayKey, ENVELOPE_DAY_MS) end
  redis.call('ZADD', leasesKey, expiresAt, envelopeLease(lease, tokensText, costText))
  extendTtl(leasesKey, math.max(ENVELOPE_DAY_MS, leaseMs))
end

-- Give a reservation back (once: 0 when it was released already, or expired and swept).
local function envelopeRelease(dayKey, leasesKey, lease, tokensText, costText)
  if redis.call('ZREM', leasesKey, envelopeLease(lease, tokensText, costText)) == 0 then return 0 end
  redis.call('HINCRBY', dayKey, 'reservedTokens', -tonumber(tokensText))
  redis.call('HINCRBYFLOAT', dayKey, 'reservedCostUsd', string.format('%.9f', -tonumber(costText)))
  return 1
end

-- Count what a call used; the first time today that spending reaches 80% of a limit, the
-- warning's data (JSON) is returned (else nil), once per envelope and day.
local function envelopeSpend(dayKey, limits, name, day, tokens, cost)
  local spent = {
    tokens = redis.call('HINCRBY', dayKey, 'spentTokens', tokens),
    cost = tonumber(redis.call('HINCRBYFLOAT', dayKey, 'spentCostUsd', string.format('%.9f', cost))),
  }
  if redis.call('PTTL', dayKey) < 0 then redis.call('PEXPIRE', dayKey, ENVELOPE_DAY_MS) end
  if not limits then return nil end
  for _, c in ipairs({ { 'maxCostUsdPerDay', 'cost' }, { 'maxTokensPerDay', 'tokens' } }) do
    local limit = limits[c[1]]
    if type(limit) == 'number' and spent[c[2]] >= 0.8 * limit and redis.call('HSETNX', dayKey, 'warned', '1') == 1 then
      return cjson.encode({ envelope = name, day = day, [c[1]] = limit, spent = spent[c[2]] })
    end
  end
  return nil
end
