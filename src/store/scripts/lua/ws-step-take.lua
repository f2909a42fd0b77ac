-- A step of a workspace asks to call a provider under its workspace's maxRunningSteps.
-- KEYS[1]: the workspace's running steps (keys.runningSteps): member → lease expiry (ms, Redis' clock).
-- ARGV[1]: the cap; ARGV[2]: the member (`<runId>.<stepId>`: a step calls one at a time, so a
-- recovered attempt takes its lost one's place); ARGV[3]: how long the lease lives, ms.
-- Expired leases (their worker lost) are dropped first. Returns {1, running} when taken (or
-- renewed), {0, running} when the cap is reached (nothing written).
local cap, member, leaseMs = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local running = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], member) == false and running >= cap then return { 0, running } end
redis.call('ZADD', KEYS[1], now + leaseMs, member)
-- The set outlives its longest lease.
if redis.call('PTTL', KEYS[1]) < leaseMs then redis.call('PEXPIRE', KEYS[1], leaseMs) end
return { 1, redis.call('ZCARD', KEYS[1]) }
