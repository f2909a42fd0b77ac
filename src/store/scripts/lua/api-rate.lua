-- One API request of a workspace against its rate, by the generic cell rate algorithm (GCRA).
-- KEYS[1]: its state (keys.apiRate): the theoretical arrival time (TAT) of the next request, in
-- µs of Redis' clock (one clock for every API process).
-- ARGV[1]: µs between requests at the rate; ARGV[2]: the burst (requests at once from rest).
-- Returns 0 when the request is admitted (the TAT moves one interval on), else the µs until one
-- would be (nothing is written).
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nextTat = tat + interval
local over = nextTat - now - interval * burst
if over > 0 then return over end
-- %d: a number's own text would be rounded to 14 digits; the key expires once back at rest.
redis.call('SET', KEYS[1], string.format('%d', nextTat), 'PX', math.ceil((nextTat - now) / 1000))
return 0
