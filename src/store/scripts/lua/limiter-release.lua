-- The limiter's side of releasing a run's holds when the run is in another slot than the
-- limiter (a cell other than the global slot's: see holds-release.ts): the turns booked leave
-- their scopes' bookings (each scope's request arrival time given back, as holds-release does)
-- and the leases their scopes' leases. The run's side (its holds, its budget's reservations)
-- is released after this, by holds-release in the run's slot: a crash in between leaves holds
-- that name nothing any more, and releasing them again changes nothing.
-- KEYS: per scope the holds name: its state, its bookings, its leases.
-- ARGV: the holds to release (holdEntry's format; a hold of a scope not given is skipped).
-- Returns the number of holds released here.
--@include retimeScope
local scope = {}
for i = 1, #KEYS, 3 do scope[KEYS[i]] = i end
local retime = {}
local n = 0
for _, e in ipairs(ARGV) do
  local kind, _, _, id, what = string.match(e, '^(%a) (%d+) (%S+) (%S+) (.+)$')
  local at = kind and scope[what]
  if at then
    n = n + 1
    if kind == 'b' then
      redis.call('ZREM', KEYS[at + 1], id)
      retime[at] = true
    elseif kind == 'l' then
      redis.call('ZREM', KEYS[at + 2], id)
    end
  end
end
for at in pairs(retime) do retimeScope(at) end
return n
