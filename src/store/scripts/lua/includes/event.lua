-- An event as its log holds it. The run id is the log's, so an event leaves it out. `etype` is
-- an event type and `at` an ISO time: neither needs JSON escaping.
-- (One concatenation: each would copy the text made so far.)
local function eventText(etype, stepIdJson, at, dataJson)
  if stepIdJson then return '{"type":"' .. etype .. '","stepId":' .. stepIdJson .. ',"at":"' .. at .. '","data":' .. dataJson .. '}' end
  return '{"type":"' .. etype .. '","at":"' .. at .. '","data":' .. dataJson .. '}'
end

-- Append an event to a run's event log (a list: an event's id is its position, from 1) and
-- publish it, as `<id> <event JSON>`, on the channel named like the log's key, for the viewers
-- following the run live (see event-feed.ts).
local function event(eventsKey, etype, stepIdJson, at, dataJson)
  local e = eventText(etype, stepIdJson, at, dataJson)
  local n = redis.call('RPUSH', eventsKey, e)
  redis.call('PUBLISH', eventsKey, n .. ' ' .. e)
end

-- Append several events (their texts, as eventText makes them) in one command, and publish the
-- last one only, with its id: a viewer following the run reads the ones before it from the log,
-- as it reads any gap (event-feed.ts), so it is given the same events in the same order.
local function appendEvents(eventsKey, texts)
  local n = redis.call('RPUSH', eventsKey, unpack(texts))
  redis.call('PUBLISH', eventsKey, n .. ' ' .. texts[#texts])
end
