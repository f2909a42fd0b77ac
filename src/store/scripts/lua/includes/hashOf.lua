-- A hash's fields as a table by field name (an empty table for a missing key), read in RESP3:
-- HGETALL's map is made a table by Redis itself, not taken apart pair by pair in Lua.
-- Only this command runs in RESP3 (its other replies differ: a missing value is nil, a score a
-- table): the script is back in RESP2 after it.
local function hashOf(key)
  redis.setresp(3)
  local m = redis.call('HGETALL', key).map
  redis.setresp(2)
  return m
end
