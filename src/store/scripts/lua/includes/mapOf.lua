-- HGETALL's flat reply as a table by field name.
local function mapOf(flat)
  local m = {}
  for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end
  return m
end
