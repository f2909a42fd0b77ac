-- Append an event to a run's event stream. `etype` is an event type and `at` an ISO time: neither
-- needs JSON escaping, so both are quoted as they are.
local function event(eventsKey, etype, runIdJson, stepIdJson, at, dataJson)
  local e = '{"type":"' .. etype .. '","runId":' .. runIdJson
  if stepIdJson then e = e .. ',"stepId":' .. stepIdJson end
  redis.call('XADD', eventsKey, '*', 'e', e .. ',"at":"' .. at .. '","data":' .. dataJson .. '}')
end
