--@include budgetWarning
-- For a run with a budget: add usage to its spending (hash fields spentTokens, spentCostUsd)
-- and hold it against the budget (steps are counted as they start: countStep).
-- Returns why the budget is exceeded (spending above a limit) or '', and the run budget's
-- warning (its data JSON) or ''. The first time spending reaches 80% of a limit, the warning is
-- given (warnOnce) and returned, for the caller to tell the run's webhooks. `again` (a write
-- replayed after its reply was lost): a warning given before is returned again (keptWarning).
-- A run without a budget is read once and nothing more.
local function spend(runKey, eventsKey, usageJson, now, again)
  local b = redis.call('HGET', runKey, 'budget')
  if not b or b == 'null' then return '', '' end
  b = cjson.decode(b)
  local u = (usageJson and usageJson ~= 'null') and cjson.decode(usageJson) or {}
  local cost = u.costUsd
  if type(cost) ~= 'number' then cost = 0 end
  local spent = {
    tokens = redis.call('HINCRBY', runKey, 'spentTokens', (u.inputTokens or 0) + (u.outputTokens or 0)),
    cost = tonumber(redis.call('HINCRBYFLOAT', runKey, 'spentCostUsd', cost)),
  }
  local warned = ''
  for _, c in ipairs({ { 'maxCostUsd', 'cost' }, { 'maxTokens', 'tokens' } }) do
    local limit = b[c[1]]
    if type(limit) == 'number' then
      local have = spent[c[2]]
      if have > limit then return 'budget exceeded: ' .. c[2] .. ' ' .. tostring(have) .. ' over ' .. c[1] .. ' ' .. tostring(limit), warned end
      if have >= 0.8 * limit and warned == '' then
        warned = warnOnce(runKey, eventsKey, now, '{"' .. c[1] .. '":' .. tostring(limit) .. ',"spent":' .. tostring(have) .. '}')
        if warned == '' and again then warned = keptWarning(runKey) end
      end
    end
  end
  return '', warned
end
