-- A new run whose run.finished a subscription of its workspace takes (any schedule's, or its
-- own schedule's) is marked as awaiting its finish notice (src/webhooks/finish-notices.ts), in
-- the write that creates it. A workspace without such a subscription costs one HVALS of a
-- missing key.
-- finishedKey: the workspace's subscriptions that take run.finished (keys.webhooksFinished: id →
-- their schedule, '' for any); noticesKey: the cell's marks; scheduleId: the run's ('' for
-- none); score: now, ms.
local function markFinishNotice(finishedKey, noticesKey, runKey, scheduleId, score)
  for _, only in ipairs(redis.call('HVALS', finishedKey)) do
    if only == '' or only == scheduleId then
      redis.call('ZADD', noticesKey, score, runKey)
      return
    end
  end
end
