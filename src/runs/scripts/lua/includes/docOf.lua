-- A record as JSON, assembled from its hash fields' JSON texts (never decoded and re-encoded:
-- Redis' cjson turns empty arrays into objects).
local function docOf(key, fields)
  local vals = redis.call('HMGET', key, unpack(fields))
  local parts = {}
  for i, f in ipairs(fields) do
    local v = vals[i]
    if not v then v = 'null' end
    parts[#parts + 1] = cjson.encode(f) .. ':' .. v
  end
  return '{' .. table.concat(parts, ',') .. '}'
end
