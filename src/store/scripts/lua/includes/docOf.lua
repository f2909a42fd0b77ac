-- A record as JSON, assembled from its fields' JSON texts (never decoded and re-encoded: Redis'
-- cjson turns empty arrays into objects), every field of `fields` in order, a missing one as
-- null: the outbox's documents. (A finished run's compact records leave their null fields out:
-- COMPACT_RUN_DOC and COMPACT_STEP_DOC, generated in script.ts.)
-- The pieces are gathered in a list and joined once (table.concat): no text is made per field
-- holding its value (each would copy the value again, and be garbage to collect); a field's
-- `,"name":` is the same text on every call (Lua keeps one copy of equal strings).

-- The record of `fields` from their texts `vals`: by name, or with `byIndex` in the order of `fields`.
local function docOfTexts(fields, vals, byIndex)
  local parts = {}
  for i = 1, #fields do
    local f = fields[i]
    local v
    if byIndex then v = vals[i] else v = vals[f] end
    parts[2 * i - 1], parts[2 * i] = ',"' .. f .. '":', v or 'null'
  end
  parts[1] = '{"' .. fields[1] .. '":'
  parts[#parts + 1] = '}'
  return table.concat(parts)
end

-- The record from a hash as HGETALL gives it, by name (see hashOf.lua): only the fields it has are
-- read, where HMGET would name every field of the record.
local function docFromMap(fields, byName)
  return docOfTexts(fields, byName, false)
end

-- The record a hash holds: only the fields of `fields` are read (HMGET), never the rest of the
-- hash (a step's checkpoint, which holds a tool loop's whole conversation; a run's context).
local function docOf(key, fields)
  return docOfTexts(fields, redis.call('HMGET', key, unpack(fields)), true)
end
