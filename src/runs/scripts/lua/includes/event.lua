-- Append an event to a run's event stream.
local function event(eventsKey, etype, runIdJson, stepIdJson, at, dataJson)
  local e = '{"type":' .. cjson.encode(etype) .. ',"runId":' .. runIdJson
  if stepIdJson then e = e .. ',"stepId":' .. stepIdJson end
  e = e .. ',"at":' .. cjson.encode(at) .. ',"data":' .. dataJson .. '}'
  redis.call('XADD', eventsKey, '*', 'e', e)
end
