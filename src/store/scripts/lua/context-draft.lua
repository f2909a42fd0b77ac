-- Keep a value the publish_context tool gives for a name of the run's context on its step,
-- only while the step runs the given attempt: it is published with the step's result when it
-- succeeds (engine/publish.ts), never before. Each value sits in `contextDraft:<name>` of the
-- step hash, as given (never decoded); `contextDraftNames` lists the names (plain: ContextName)
-- and `contextDraft` holds them all as one JSON object, rebuilt from the values. A name given
-- again takes the new value. Not a field of the step's record: dropped when the run is compacted.
-- KEYS: step
-- ARGV: [1] attempt, [2] name, [3] value JSON, [4] most names, [5] most bytes of all of them
-- Returns {'stored', number of names}, {'stale'}, {'full', n} or {'too_large', bytes}.
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'contextDraftNames')
if v[1] ~= '"running"' or v[2] ~= ARGV[1] then return {'stale'} end
local names = (v[3] and v[3] ~= 'null') and cjson.decode(v[3]) or {}
local known = false
for _, n in ipairs(names) do
  if n == ARGV[2] then known = true end
end
if not known then
  if #names >= tonumber(ARGV[4]) then return {'full', #names} end
  names[#names + 1] = ARGV[2]
end
local parts = {}
for i, n in ipairs(names) do
  local value = n == ARGV[2] and ARGV[3] or redis.call('HGET', KEYS[1], 'contextDraft:' .. n)
  parts[i] = cjson.encode(n) .. ':' .. value
end
local all = '{' .. table.concat(parts, ',') .. '}'
if #all > tonumber(ARGV[5]) then return {'too_large', #all} end
redis.call('HSET', KEYS[1], 'contextDraft:' .. ARGV[2], ARGV[3], 'contextDraftNames', cjson.encode(names), 'contextDraft', all)
return {'stored', #names}
