-- Let `key` live at least `ms` more, never less than it had: a run's holds (keys.runHolds) live
-- as long as the longest hold in them, whichever call wrote last (a reservation given back
-- after its key expired would stay counted in flight for good).
local function extendTtl(key, ms)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 or ttl < ms then redis.call('PEXPIRE', key, ms) end
end
