-- A new run whose run.finished a subscription of its workspace takes (any schedule's, or its
-- own schedule's) is marked as awaiting its finish notice (src/webhooks/finish-notices.ts), in
-- the write that creates it. A workspace without webhooks costs one EXISTS.
-- webhooksKey: the workspace's subscriptions (id → record JSON); noticesKey: the cell's marks;
-- scheduleId: the run's ('' for none); score: now, ms.
local function markFinishNotice(webhooksKey, noticesKey, runKey, scheduleId, score)
  if redis.call('EXISTS', webhooksKey) == 0 then return end
  for _, text in ipairs(redis.call('HVALS', webhooksKey)) do
    local w = cjson.decode(text)
    local only = w.scheduleId
    if only == nil or only == cjson.null or only == scheduleId then
      for _, e in ipairs(w.events) do
        if e == 'run.finished' then
          redis.call('ZADD', noticesKey, score, runKey)
          return
        end
      end
    end
  end
end
