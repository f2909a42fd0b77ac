--@include event
-- A run budget's 80% warning, once per run whichever limit reaches it first (spend: cost and
-- tokens; countStep: maxSteps): its data JSON is kept in the run's hash (field budgetWarned)
-- and a budget.warning event appended. Returns the data when this call gave the warning, ''
-- when the run was warned before.
local function warnOnce(runKey, eventsKey, now, data)
  if redis.call('HSETNX', runKey, 'budgetWarned', data) == 0 then return '' end
  event(eventsKey, 'budget.warning', nil, now, data)
  return data
end

-- The warning a run was given ('' for none), for a write replayed after its reply was lost (the
-- webhooks' notice id makes it one delivery). A run warned before the data was kept holds '1'.
local function keptWarning(runKey)
  local kept = redis.call('HGET', runKey, 'budgetWarned')
  if kept and string.sub(kept, 1, 1) == '{' then return kept end
  return ''
end
