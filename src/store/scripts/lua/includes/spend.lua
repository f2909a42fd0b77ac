--@include event
-- For a run with a budget: add usage to its spending (hash fields spentTokens, spentCostUsd)
-- and hold it against the budget (steps are counted as they start: countStep).
-- Returns '' (no budget, or within it) or why the budget is exceeded (spending above a
-- limit). The first time spending reaches 80% of a limit, a budget.warning event is appended.
local function spend(runKey, eventsKey, usageJson, now)
  local b = redis.call('HGET', runKey, 'budget')
  if not b or b == 'null' then return '' end
  b = cjson.decode(b)
  local u = (usageJson and usageJson ~= 'null') and cjson.decode(usageJson) or {}
  local cost = u.costUsd
  if type(cost) ~= 'number' then cost = 0 end
  local spent = {
    tokens = redis.call('HINCRBY', runKey, 'spentTokens', (u.inputTokens or 0) + (u.outputTokens or 0)),
    cost = tonumber(redis.call('HINCRBYFLOAT', runKey, 'spentCostUsd', cost)),
  }
  for _, c in ipairs({ { 'maxCostUsd', 'cost' }, { 'maxTokens', 'tokens' } }) do
    local limit = b[c[1]]
    if type(limit) == 'number' then
      local have = spent[c[2]]
      if have > limit then return 'budget exceeded: ' .. c[2] .. ' ' .. tostring(have) .. ' over ' .. c[1] .. ' ' .. tostring(limit) end
      if have >= 0.8 * limit and redis.call('HSETNX', runKey, 'budgetWarned', '1') == 1 then
        event(eventsKey, 'budget.warning', nil, now, '{"' .. c[1] .. '":' .. tostring(limit) .. ',"spent":' .. tostring(have) .. '}')
      end
    end
  end
  return ''
end
