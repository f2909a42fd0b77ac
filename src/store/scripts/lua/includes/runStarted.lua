--@include event
-- The first step to start moves its run from queued to running (`runStatusJson`: its status as
-- the caller read it in this script), and out of the set of queued runs. Its `run.started` event
-- is added to `texts` (see appendEvents) when given, else appended at once. (The outbox's
-- functions are made only when the outbox is on: see script.ts's luaSource.)
local function runStarted(runKey, eventsKey, outboxKey, queuedKey, runStatusJson, now, outbox, texts)
  if runStatusJson ~= '"queued"' then return end
  -- An ISO time needs no JSON escaping (as in eventText).
  redis.call('HSET', runKey, 'status', '"running"', 'startedAt', '"' .. now .. '"')
  redis.call('ZREM', queuedKey, runKey)
  if texts then texts[#texts + 1] = eventText('run.started', nil, now, '{}')
  else event(eventsKey, 'run.started', nil, now, '{}') end
  if outbox then
    --@include outboxRun
    outboxRun(outboxKey, runKey)
  end
end
