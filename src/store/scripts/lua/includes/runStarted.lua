--@include event
--@include outboxRun
-- The first step to start moves its run from queued to running (`runStatusJson`: its status as
-- the caller read it in this script), and out of the set of queued runs.
local function runStarted(runKey, eventsKey, outboxKey, queuedKey, runIdJson, runStatusJson, now, outbox)
  if runStatusJson ~= '"queued"' then return end
  redis.call('HSET', runKey, 'status', '"running"', 'startedAt', cjson.encode(now))
  redis.call('ZREM', queuedKey, runKey)
  event(eventsKey, 'run.started', nil, now, '{}')
  if outbox then outboxRun(outboxKey, runKey) end
end
