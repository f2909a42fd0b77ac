-- Settle an admitted call (see limiter-acquire): give back its lease, correct the tokens it
-- reserved by what it used (a refund, or a debit), pause the scope after a 429 or an overload
-- until `pauseUntil`, and move the breaker: a success closes it, a failure counts, and enough
-- failures within the window (or a failed probe) open it for the cool-down.
-- KEYS: as limiter-acquire.
-- Time is Redis's own (TIME), as in limiter-acquire.
-- ARGV: [1] (unused), [2] lease id, [3] tokens used minus tokens reserved, [4] number of
--       scopes, [5] outcome: ok | failure | neutral, [6] pause for (ms from now, 0: none), then
--       per scope: tpm (0: none), breaker failures (0: no breaker), window ms, cool-down ms,
--       pause this scope ('1'/'0').
-- Returns the scope indexes whose breaker this call opened.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease, delta, n, outcome = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local pauseUntil = tonumber(ARGV[6]) > 0 and now + tonumber(ARGV[6]) or 0
local WINDOW = 60000
local opened = {}
for i = 1, n do
  local h = KEYS[i]
  local a = 6 + (i - 1) * 5
  local tpm, failures, windowMs, cooldownMs, pause = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), ARGV[a + 5] == '1'
  redis.call('ZREM', KEYS[n + i], lease)
  if tpm > 0 and delta ~= 0 and redis.call('EXISTS', h) == 1 then
    redis.call('HINCRBYFLOAT', h, 'tatTok', string.format('%.3f', delta * WINDOW / tpm))
  end
  if pause and pauseUntil > now then
    local cur = tonumber(redis.call('HGET', h, 'pausedUntil') or '0')
    if pauseUntil > cur then redis.call('HSET', h, 'pausedUntil', pauseUntil) end
    redis.call('PEXPIRE', h, math.max(3600000, pauseUntil - now))
  end
  if failures > 0 then
    local b = redis.call('HMGET', h, 'probe', 'failures', 'failuresSince')
    local probe = b[1] == lease
    if outcome == 'ok' then
      redis.call('HDEL', h, 'failures', 'failuresSince', 'openUntil', 'probe', 'probeUntil')
    elseif outcome == 'failure' then
      local count, since = tonumber(b[2] or '0'), tonumber(b[3] or '0')
      if now - since > windowMs then count, since = 0, now end
      count = count + 1
      if probe or count >= failures then
        redis.call('HSET', h, 'openUntil', now + cooldownMs, 'failures', 0, 'failuresSince', now)
        redis.call('HDEL', h, 'probe', 'probeUntil')
        opened[#opened + 1] = i
      else
        redis.call('HSET', h, 'failures', count, 'failuresSince', since)
      end
    elseif probe then
      -- A probe that neither succeeded nor failed (cancelled, rate limited) lets another probe go.
      redis.call('HDEL', h, 'probe', 'probeUntil')
    end
  end
end
return opened
