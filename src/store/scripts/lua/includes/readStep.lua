-- A step as another step reads it (step-begin, steps-read): its status ('"cancelled"' when it
-- is not there), its optional flag and, when asked, its output (JSON texts; 'null' when not asked).
local function readStep(key, withOutput)
  local r
  if withOutput then
    r = redis.call('HMGET', key, 'status', 'optional', 'output')
  else
    -- A join of many steps whose outputs it does not read fetches only their statuses.
    r = redis.call('HMGET', key, 'status', 'optional')
  end
  return r[1] or '"cancelled"', r[2] or 'false', r[3] or 'null'
end
