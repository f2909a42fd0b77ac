-- Admit one provider call against every limit that applies to it, atomically: each scope (a
-- provider, a model, per API key when declared; an agent) has requests per window and tokens
-- per minute (GCRA: a theoretical arrival time per limit. Requests are spaced evenly, one per
-- interval, so no second sees more than its share (providers enforce a per-minute limit over
-- shorter periods too); tokens flow at their rate with a burst of one second's worth or one
-- call, which stays within a provider's token bucket of a minute's capacity), calls at once
-- (leases that expire, so a lost worker frees its slot), a pause (after a 429 or an overload;
-- one that was capped or is for a spent quota ends with one probe call), and a circuit
-- breaker. Nothing is taken unless everything admits the call.
-- KEYS: one hash per scope (its state), then one sorted set per scope (its leases), then one
-- sorted set per scope (its bookings: call key → turn), same order; then the holds of the
-- call's run (keys.runHolds: its turns booked and leases, released when its run ends).
-- Time is Redis's own (TIME), so processes on hosts whose clocks differ share one clock.
-- ARGV: [1] the call's key ('' for none: no booking), [2] lease id, [3] lease length (ms), [4] tokens reserved, [5] number of
--       scopes, then per scope: requests per window, the window (ms), tpm, maxConcurrent (0:
--       none), breaker on ('1'/'0'); then the longest wait whose turn is booked (-1: any); then
--       the attempt and the step id of the call's holder ('': no holder, nothing is held for it).
-- Returns {1, ''} when admitted ({1, '', 'probe'} when it is the probe call that decides whether
-- a pause goes on); {0, wait ms, scope index, why[, 'booked']} when not (booked: its turn is
-- kept for it, under its call key); {-1, 0, scope index, why} when the call can never fit (more
-- tokens than the scope's tpm); {-2, ms until the pause ends, scope index, 'quota', the
-- provider's message, when it said it may recover (ms, 0: unknown)} when the scope is paused
-- because its quota is spent (the call goes elsewhere or fails, it does not wait).
--@include holdEntry
--@include extendTtl
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease, expiry, tokens, n = ARGV[2], now + tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local key = ARGV[1]
-- A turn further away than this is not booked (-1: any): the caller has somewhere else to go (a fallback).
local bookWithin = tonumber(ARGV[6 + 5 * n] or '-1')
local holds, holdAttempt, holdStep = KEYS[3 * n + 1], ARGV[7 + 5 * n] or '', ARGV[8 + 5 * n] or ''
local held = holdStep ~= ''
local probed = false
local WINDOW = 60000
local BURST = 1000
local CONCURRENCY_POLL = 1000
-- A booking whose call has not come back this long after its turn is dropped (its run ended).
local BOOKING_KEPT = 600000
local wait, who, why = 0, 0, ''
local function need(ms, i, reason)
  if ms > wait then wait, who, why = ms, i, reason end
end
local plan = {}
for i = 1, n do
  local h, z, b = KEYS[i], KEYS[n + i], KEYS[2 * n + i]
  local a = 5 + (i - 1) * 5
  local reqMax, reqWindow, tpm, conc, breaker = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), ARGV[a + 5] == '1'
  local s = redis.call('HMGET', h, 'pausedUntil', 'tatReq', 'tatTok', 'openUntil', 'probe', 'probeUntil', 'lastReq', 'pauseProbe', 'pprobe', 'pprobeUntil')
  local p = {}
  local paused = tonumber(s[1] or '0')
  if paused > now then
    if s[8] == 'quota' then
      local q = redis.call('HMGET', h, 'quota', 'quotaUntil')
      return {-2, paused - now, i, 'quota', q[1] or '', tonumber(q[2] or '0')}
    end
    need(paused - now, i, 'paused')
  elseif s[8] then
    -- The pause (capped, or for a spent quota) has run out: one probe call decides whether it
    -- goes on (a probe whose worker was lost expires with its lease).
    if s[9] and s[9] ~= lease and tonumber(s[10] or '0') > now then need(CONCURRENCY_POLL, i, 'paused, a probe call is under way') else p.pauseProbe = true end
  end
  if breaker then
    local openUntil = tonumber(s[4] or '0')
    if openUntil > now then
      need(openUntil - now, i, 'circuit open')
    elseif openUntil > 0 then
      -- Half open: one probe call at a time decides (a probe whose worker was lost expires).
      if s[5] and s[5] ~= lease and tonumber(s[6] or '0') > now then need(CONCURRENCY_POLL, i, 'circuit half-open, a probe call is under way') else p.probe = true end
    end
  end
  -- A call that was refused for its rate earlier and told when its turn comes (its booking,
  -- by call key) was counted then: it goes without being counted again.
  -- Only a scope that limits requests keeps bookings.
  local booked = key ~= '' and reqMax > 0 and redis.call('ZSCORE', b, key)
  if reqMax > 0 then
    -- Booked or not, no two calls go closer than the interval: no second sees more than its share.
    local interval = reqWindow / reqMax
    local last = tonumber(s[7] or '0')
    if now - last < interval then need(last + interval - now, i, 'requests') end
    p.spaced = true
  end
  if booked then
    -- Back before its turn (it is woken a little early, to go on time): it waits for it.
    if tonumber(booked) > now then need(tonumber(booked) - now, i, 'requests') end
    p.unbook = true
  elseif reqMax > 0 then
    local interval = reqWindow / reqMax
    local tat = math.max(tonumber(s[2] or '0'), now) + interval
    if tat - now > interval and now - tonumber(s[7] or '0') >= interval
      and #redis.call('ZRANGEBYSCORE', b, '(' .. (now - interval), '(' .. (now + interval), 'LIMIT', 0, 1) == 0 then
      -- Its turn would come after others, but no call went in the last interval and no turn is
      -- booked within one: turns given back (their run ended) left this moment free. It goes
      -- in it; the turns booked after it stay as they are.
    else
      if tat - now > interval then need(tat - now - interval, i, 'requests') end
      p.tatReq = tat
      p.interval = interval
    end
  end
  -- Tokens are counted when the call goes, booked turn or not.
  if tpm > 0 then
    if tokens > tpm then return {-1, 0, i, 'tpm'} end
    -- A call bigger than a second's worth fits once the tokens before it have flowed out.
    local cost = tokens * WINDOW / tpm
    local limit = math.max(cost, BURST)
    local tat = math.max(tonumber(s[3] or '0'), now) + cost
    if tat - now > limit then need(tat - now - limit, i, 'tpm') end
    p.tatTok = tat
    p.cost, p.limit = cost, limit
  end
  if conc > 0 then
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
    if redis.call('ZCARD', z) >= conc then need(CONCURRENCY_POLL, i, 'maxConcurrent') end
    p.lease = true
  end
  plan[i] = p
end
if wait > 0 then
  -- Refused for a request rate, with a call key: its turn is booked in every scope that limits
  -- its requests, the rate counted from then (each such scope's arrival time moves to the
  -- turn, so the calls refused together come back one after the other, each turn held in all
  -- of them), and it is told to come back at its turn, where it goes without being counted in
  -- them again (a call a little late on its turn still goes). Its tokens are not booked: they
  -- are counted when it goes (a booking would hold a call's reserved tokens while the calls
  -- before it give back what they reserved and did not use). A scope that limits only tokens
  -- is not held back by a booked turn.
  if key ~= '' and why == 'requests' and (bookWithin < 0 or wait <= bookWithin) then
    local at = now + wait
    for i = 1, n do
      local p = plan[i]
      if not p.unbook and p.tatReq then
        redis.call('ZREMRANGEBYSCORE', KEYS[2 * n + i], '-inf', now - BOOKING_KEPT)
        redis.call('ZADD', KEYS[2 * n + i], at, key)
        redis.call('PEXPIRE', KEYS[2 * n + i], 3600000)
        -- The interval is kept so that a release of turns can give the arrival time back.
        redis.call('HSET', KEYS[i], 'tatReq', string.format('%.3f', math.max(p.tatReq, at + p.interval)), 'interval', string.format('%.3f', p.interval))
        redis.call('PEXPIRE', KEYS[i], 3600000)
        if held then redis.call('ZADD', holds, at + BOOKING_KEPT, holdEntry('b', holdAttempt, holdStep, key, KEYS[i])) end
      end
    end
    if held then extendTtl(holds, math.max(3600000, wait + BOOKING_KEPT)) end
    return {0, math.ceil(wait), who, why, 'booked'}
  end
  return {0, math.ceil(wait), who, why}
end
for i = 1, n do
  local p = plan[i]
  local fields = {}
  if p.tatReq then fields[#fields + 1] = 'tatReq'; fields[#fields + 1] = string.format('%.3f', p.tatReq) end
  if p.tatTok then fields[#fields + 1] = 'tatTok'; fields[#fields + 1] = string.format('%.3f', p.tatTok) end
  if p.spaced then fields[#fields + 1] = 'lastReq'; fields[#fields + 1] = now end
  if p.probe then fields[#fields + 1] = 'probe'; fields[#fields + 1] = lease; fields[#fields + 1] = 'probeUntil'; fields[#fields + 1] = expiry end
  if p.pauseProbe then fields[#fields + 1] = 'pprobe'; fields[#fields + 1] = lease; fields[#fields + 1] = 'pprobeUntil'; fields[#fields + 1] = expiry; probed = true end
  if #fields > 0 then redis.call('HSET', KEYS[i], unpack(fields)) end
  if p.unbook then
    redis.call('ZREM', KEYS[2 * n + i], key)
    if held then redis.call('ZREM', holds, holdEntry('b', holdAttempt, holdStep, key, KEYS[i])) end
  end
  if p.lease then
    redis.call('ZADD', KEYS[n + i], expiry, lease)
    if held then redis.call('ZADD', holds, expiry, holdEntry('l', holdAttempt, holdStep, lease, KEYS[i])); extendTtl(holds, math.max(3600000, expiry - now)) end
  end
  -- Limiter state ages out by itself once a scope goes quiet.
  redis.call('PEXPIRE', KEYS[i], 3600000)
  redis.call('PEXPIRE', KEYS[n + i], 3600000)
  if p.spaced then redis.call('PEXPIRE', KEYS[2 * n + i], 3600000) end
end
return probed and {1, '', 'probe'} or {1, ''}
