-- A record as JSON from its hash fields' JSON texts, leaving out fields that are null or
-- missing (a reader takes a field that is not there as null), and those named in `skip`.
local function docCompact(key, fields, skip)
  local vals = redis.call('HMGET', key, unpack(fields))
  local parts = {}
  for i, f in ipairs(fields) do
    local v = vals[i]
    if v and v ~= 'null' and not (skip and skip[f]) then parts[#parts + 1] = '"' .. f .. '":' .. v end
  end
  return '{' .. table.concat(parts, ',') .. '}'
end
