-- HGETALL's flat reply (or any field, value list) as a table by field name. (A hash read whole:
-- hashOf, which has Redis make the table.)
local function mapOf(flat)
  local m = {}
  for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end
  return m
end
