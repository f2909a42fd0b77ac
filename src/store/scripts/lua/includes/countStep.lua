--@include budgetWarning
-- A step that calls a model counts against its run's `maxSteps` when it first starts (see
-- countsTowardMaxSteps in src/model/budget.ts): it is counted in the script that starts it, so
-- steps starting at once never pass the limit together. `stepIdJson`: the step's id (JSON).
-- Returns why it may not start (the limit is reached: it is not counted) or '' (counted, or the
-- run has no maxSteps), and the run budget's warning (its data JSON) or ''. The first time the
-- count reaches 80% of the limit, the warning is given (warnOnce) and returned. `budget`: the
-- run's budget field as the caller read it (false: none), or nil to read it here.
local function countStep(runKey, eventsKey, stepIdJson, now, budget)
  local b = budget
  if b == nil then b = redis.call('HGET', runKey, 'budget') end
  if not b or b == 'null' then return '', '' end
  local limit = cjson.decode(b).maxSteps
  if type(limit) ~= 'number' then return '', '' end
  local n = tonumber(redis.call('HGET', runKey, 'spentSteps') or '0') or 0
  if n >= limit then
    return 'budget exceeded: step ' .. stepIdJson .. ' would pass maxSteps ' .. limit .. ' (' .. n .. ' steps started)', ''
  end
  n = redis.call('HINCRBY', runKey, 'spentSteps', 1)
  if n >= 0.8 * limit then return '', warnOnce(runKey, eventsKey, now, '{"maxSteps":' .. limit .. ',"spent":' .. n .. '}') end
  return '', ''
end
