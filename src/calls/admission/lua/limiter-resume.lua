-- Lift a scope's pause (an admin's resume): calls to it go again at once, without a probe.
-- Only a scope the set of paused scopes lists is looked at: an id that names another of the
-- limiter's keys (`openai:leases`) is not a scope, and its key is left alone.
-- KEYS: the scope's state, the set of paused scopes. ARGV: [1] the scope's id.
-- Returns {0} when it is not paused (nor waiting for a probe to end its pause), else {1, when
-- the pause was to end (ms), how it was to end ('' by itself, 'capped' or 'quota': a probe)}.
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = redis.call('HMGET', KEYS[1], 'pausedUntil', 'pauseProbe')
local paused = tonumber(s[1] or '0')
redis.call('ZREM', KEYS[2], ARGV[1])
if paused <= now and not s[2] then return {0} end
redis.call('HDEL', KEYS[1], 'pausedUntil', 'pauseProbe', 'quota', 'quotaUntil', 'pprobe', 'pprobeUntil')
return {1, paused, s[2] or ''}
