-- Settle an admitted call (see limiter-acquire): give back its lease, correct the tokens it
-- reserved by what it used (a refund, or a debit), pause the scope after a 429 or an overload
-- until `pauseUntil`, and move the breaker: a success closes it, a failure counts, and enough
-- failures within the window (or a failed probe) open it for the cool-down.
-- A pause that was capped (the provider asked for longer) or is for a spent quota is marked to
-- end with one probe call: the probe's success lifts it, another 429 pauses again (as a quota
-- only when it says the quota is still spent).
-- KEYS: as limiter-acquire (states, leases; no bookings), then the holds of the call's run, then
-- the set of paused scopes (keys.limitPaused).
-- Time is Redis's own (TIME), as in limiter-acquire.
-- ARGV: [1] the id of the scope a pause holds (listed in the paused set), [2] lease id, [3]
--       tokens used minus tokens reserved, [4] number of scopes, [5] outcome: ok | failure |
--       neutral, [6] pause for (ms from now, 0: none), [7] how the pause ends: '' (by itself),
--       'capped' or 'quota' (with a probe), [8] the provider's message (quota), [9] when it
--       said the quota may recover (ms, 0: unknown), [10] holder attempt, [11] holder step id
--       ('': none), then per scope: tpm (0: none), breaker failures (0: no breaker), window ms,
--       cool-down ms, pause this scope ('1'/'0'), the call holds a lease there ('1'/'0').
-- Returns {the scope indexes whose breaker this call opened, the index of the scope this call
-- paused when it was not paused (0: none), the index of the scope whose pause its probe lifted
-- (0: none)}.
--@include holdEntry
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease, delta, n, outcome = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local pauseUntil = tonumber(ARGV[6]) > 0 and now + tonumber(ARGV[6]) or 0
local pauseKind = ARGV[7]
local WINDOW = 60000
local opened, began, lifted = {}, 0, 0
for i = 1, n do
  local h = KEYS[i]
  local a = 11 + (i - 1) * 6
  local tpm, failures, windowMs, cooldownMs, pause = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), ARGV[a + 5] == '1'
  if ARGV[a + 6] == '1' then
    redis.call('ZREM', KEYS[n + i], lease)
    if ARGV[11] ~= '' then redis.call('ZREM', KEYS[2 * n + 1], holdEntry('l', ARGV[10], ARGV[11], lease, h)) end
  end
  if tpm > 0 and delta ~= 0 and redis.call('EXISTS', h) == 1 then
    redis.call('HINCRBYFLOAT', h, 'tatTok', string.format('%.3f', delta * WINDOW / tpm))
  end
  if pause then
    local cur = redis.call('HMGET', h, 'pausedUntil', 'pprobe')
    local wasPaused = tonumber(cur[1] or '0')
    if pauseUntil > now then
      if pauseUntil > wasPaused then redis.call('HSET', h, 'pausedUntil', pauseUntil) end
      if wasPaused <= now then began = i end
      if pauseKind ~= '' then redis.call('HSET', h, 'pauseProbe', pauseKind) end
      if pauseKind == 'quota' then
        redis.call('HSET', h, 'quota', ARGV[8], 'quotaUntil', ARGV[9])
      elseif cur[2] == lease then
        -- The probe was told to slow down, not that the quota is spent: whatever pause it
        -- began is what holds now, and its calls wait rather than fail.
        if pauseKind == '' then redis.call('HDEL', h, 'pauseProbe') end
        redis.call('HDEL', h, 'quota', 'quotaUntil')
      end
      if cur[2] == lease then redis.call('HDEL', h, 'pprobe', 'pprobeUntil') end
      redis.call('PEXPIRE', h, math.max(3600000, pauseUntil - now))
      redis.call('ZREMRANGEBYSCORE', KEYS[2 * n + 2], '-inf', now - 3600000)
      redis.call('ZADD', KEYS[2 * n + 2], math.max(pauseUntil, wasPaused), ARGV[1])
      redis.call('PEXPIRE', KEYS[2 * n + 2], pauseUntil - now + 3600000)
    elseif cur[2] == lease then
      if outcome == 'ok' then
        -- The probe answered: the pause is over.
        redis.call('HDEL', h, 'pausedUntil', 'pauseProbe', 'quota', 'quotaUntil', 'pprobe', 'pprobeUntil')
        redis.call('ZREM', KEYS[2 * n + 2], ARGV[1])
        lifted = i
      else
        -- Neither answered nor paused again (cancelled, failed): another probe may go.
        redis.call('HDEL', h, 'pprobe', 'pprobeUntil')
      end
    end
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
return {opened, began, lifted}
