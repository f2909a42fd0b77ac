--@include event
-- Publish a recorded result into its run's shared context. `meta` (JSON): {step, order,
-- authority, byAuthority, keys}; the JSON value of each key is in ARGV from `first` on, in that order (read
-- in place, never unpacked, and never decoded, so a value is kept exactly as it was written). A name already written by a step that ranks
-- higher (its place in the topological order; under byAuthority, authority first) keeps that step's value.
-- The run hash holds each value in `context:<name>`, who wrote it in `contextWriters`, and
-- the whole context, rebuilt from the values, in `context` (names are plain: see ContextName).
-- Appends `context.updated` {step, keys written, kept: names a higher-ranked step holds}.
local function publish(runKey, eventsKey, metaJson, first, now)
  local meta = cjson.decode(metaJson)
  local wj = redis.call('HGET', runKey, 'contextWriters')
  local writers = (wj and wj ~= 'null') and cjson.decode(wj) or {}
  local written, kept = {}, {}
  for i, name in ipairs(meta.keys) do
    local cur = writers[name]
    -- Every writer of a run has the same rule: without byAuthority, authorities do not rank.
    local mine, theirs = 0, 0
    if cur and meta.byAuthority then mine, theirs = meta.authority, cur.authority end
    if not cur or mine > theirs or (mine == theirs and meta.order >= cur.order) then
      redis.call('HSET', runKey, 'context:' .. name, ARGV[first + i - 1])
      writers[name] = { step = meta.step, order = meta.order, authority = meta.authority }
      written[#written + 1] = name
    else
      kept[#kept + 1] = name
    end
  end
  local names = {}
  for name in pairs(writers) do names[#names + 1] = name end
  table.sort(names)
  local parts = {}
  for i, name in ipairs(names) do
    parts[i] = '"' .. name .. '":' .. (redis.call('HGET', runKey, 'context:' .. name) or 'null')
  end
  redis.call('HSET', runKey, 'context', '{' .. table.concat(parts, ',') .. '}', 'contextWriters', #names > 0 and cjson.encode(writers) or 'null')
  local data = { step = meta.step, keys = written }
  if #kept > 0 then data.kept = kept end
  -- An empty list must stay a list in the event.
  local dataJson = cjson.encode(data):gsub('"keys":{}', '"keys":[]')
  event(eventsKey, 'context.updated', cjson.encode(meta.step), now, dataJson)
end
