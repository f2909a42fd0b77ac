-- A record as JSON, assembled from its fields' JSON texts (never decoded and re-encoded: Redis'
-- cjson turns empty arrays into objects). With `leaveOut` (a set of field names, possibly
-- empty), the record is compact: fields that are null or missing (a reader takes a field that
-- is not there as null) and those named are left out.
-- The pieces are gathered in a list and joined once (table.concat): no text is made per field
-- holding its value (each would copy the value again, and be garbage to collect); a field's
-- `,"name":` is the same text on every call (Lua keeps one copy of equal strings).

-- Add the fields of a record (`fields` in order, their JSON texts in `vals`: by name, or with
-- `byIndex` in the order of `fields`) to the pieces `parts`, which hold `n` of them; returns how
-- many they hold then. Each field adds two: `,"name":` and its value (the first field's comma
-- becomes the record's opening: see docEnd).
local function addFields(parts, n, fields, vals, leaveOut, byIndex)
  for i = 1, #fields do
    local f = fields[i]
    local v
    if byIndex then v = vals[i] else v = vals[f] end
    if not leaveOut then
      parts[n + 1], parts[n + 2] = ',"' .. f .. '":', v or 'null'
      n = n + 2
    elseif v and v ~= 'null' and not leaveOut[f] then
      parts[n + 1], parts[n + 2] = ',"' .. f .. '":', v
      n = n + 2
    end
  end
  return n
end

-- The record whose fields were added to `parts` from `first` on (up to `n`), closed with
-- `close` ('}' unless given), as JSON text; pieces before `first` (an opening of the caller's)
-- are kept in front.
local function docEnd(parts, n, first, close)
  if n < first then
    parts[first] = '{'
    n = first
  else
    parts[first] = '{' .. string.sub(parts[first], 2)
  end
  parts[n + 1] = close or '}'
  return table.concat(parts, '', 1, n + 1)
end

-- The record from a hash as HGETALL gives it, by name (see mapOf.lua): only the fields it has are
-- read, where HMGET would name every field of the record.
local function docFromMap(fields, byName, leaveOut)
  local parts = {}
  return docEnd(parts, addFields(parts, 0, fields, byName, leaveOut), 1)
end

-- The same from the fields' texts `vals`, in the order of `fields`.
local function docFrom(fields, vals, leaveOut)
  local parts = {}
  return docEnd(parts, addFields(parts, 0, fields, vals, leaveOut, true), 1)
end

-- The record a hash holds, as docFrom.
local function docOf(key, fields, leaveOut)
  return docFrom(fields, redis.call('HMGET', key, unpack(fields)), leaveOut)
end
