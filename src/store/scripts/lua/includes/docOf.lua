-- A record as JSON, assembled from its fields' JSON texts `vals` (in the order of `fields`; never
-- decoded and re-encoded: Redis' cjson turns empty arrays into objects). With `leaveOut` (a set
-- of field names, possibly empty), the record is compact: fields that are null or missing (a
-- reader takes a field that is not there as null) and those named are left out.
local function docFrom(fields, vals, leaveOut)
  local parts = {}
  for i, f in ipairs(fields) do
    local v = vals[i]
    if not leaveOut then
      parts[#parts + 1] = '"' .. f .. '":' .. (v or 'null')
    elseif v and v ~= 'null' and not leaveOut[f] then
      parts[#parts + 1] = '"' .. f .. '":' .. v
    end
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- The same from a hash as HGETALL gives it, by name (see mapOf): only the fields it has are
-- read, where HMGET would name every field of the record.
local function docFromMap(fields, byName, leaveOut)
  local vals = {}
  for i, f in ipairs(fields) do vals[i] = byName[f] or false end
  return docFrom(fields, vals, leaveOut)
end

-- HGETALL's flat reply as a table by field name.
local function mapOf(flat)
  local m = {}
  for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end
  return m
end

-- The record a hash holds, as docFrom.
local function docOf(key, fields, leaveOut)
  return docFrom(fields, redis.call('HMGET', key, unpack(fields)), leaveOut)
end
