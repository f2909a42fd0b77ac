-- Give a limiter scope's request arrival time back once booked turns left it (holds-release,
-- limiter-release): to the latest turn still booked or call made, plus one interval, so the
-- calls after it no longer wait behind a turn nobody holds. KEYS[at]: the scope's state,
-- KEYS[at + 1]: its bookings.
local function retimeScope(at)
  local s = redis.call('HMGET', KEYS[at], 'tatReq', 'lastReq', 'interval')
  local interval = tonumber(s[3] or '0')
  if interval > 0 then
    local last = redis.call('ZREVRANGE', KEYS[at + 1], 0, 0, 'WITHSCORES')
    local tat = math.max(tonumber(s[2] or '0'), tonumber(last[2] or '0')) + interval
    if tat < tonumber(s[1] or '0') then redis.call('HSET', KEYS[at], 'tatReq', string.format('%.3f', tat)) end
  end
end
