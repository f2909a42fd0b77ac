-- What the process that finished a run does next, read in the same write (no round trip of its
-- own): whether the run's calls hold anything (keys.runHolds: released then), and whether a
-- webhook may want its run.finished (the run is marked as awaiting its notice, or its
-- workspace has subscriptions that take it: one made after the run was submitted takes it too).
-- k: {holds, finish notices, the workspace's subscriptions that take run.finished
--     (keys.webhooksFinished), the run}
-- Returns holds, notice: each 1 or 0.
local function afterFinish(k)
  -- Mostly neither the holds nor the subscriptions exist: one look at both then.
  if redis.call('EXISTS', k[1], k[3]) == 0 then return 0, redis.call('ZSCORE', k[2], k[4]) and 1 or 0 end
  local notice = redis.call('ZSCORE', k[2], k[4]) or redis.call('EXISTS', k[3]) == 1
  return redis.call('EXISTS', k[1]), notice and 1 or 0
end
