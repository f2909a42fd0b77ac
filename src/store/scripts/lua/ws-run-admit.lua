-- A run of a workspace asks to start under its workspace's maxRunningRuns.
-- KEYS[1]: the workspace's running runs (keys.runningRuns): run id → when it was admitted (ms).
-- ARGV[1]: the cap; ARGV[2]: the run id; ARGV[3]: the workspace's run key prefix (a run's hash
-- is <prefix><runId>); ARGV[4]: seconds the set lives after its last admission. A run found
-- already started (before the cap was set) is counted and goes on.
-- At the cap, runs that have finished (or left Redis) are dropped first: nothing else needs to
-- tell this set that a run ended. Returns {1, running} when admitted (or already counted),
-- {0, running} when the cap is reached (nothing written).
local cap, runId, prefix = tonumber(ARGV[1]), ARGV[2], ARGV[3]
if redis.call('ZSCORE', KEYS[1], runId) then return { 1, redis.call('ZCARD', KEYS[1]) } end
local running = redis.call('ZCARD', KEYS[1])
if running >= cap then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local status = redis.call('HGET', prefix .. id, 'status')
    local ok, name = pcall(cjson.decode, status or 'null')
    if status == false or (ok and TERMINAL[name]) then redis.call('ZREM', KEYS[1], id) end
  end
  running = redis.call('ZCARD', KEYS[1])
end
if running >= cap and redis.call('HGET', prefix .. runId, 'status') == '"queued"' then return { 0, running } end
local clock = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(clock[1]) * 1000, runId)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return { 1, running + 1 }
