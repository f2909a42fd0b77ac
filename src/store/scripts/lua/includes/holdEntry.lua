-- One hold of a run's provider call (keys.runHolds): `<kind> <attempt> <step id> <id> <what>`,
-- kind b: a turn booked (id: the call key; what: the scope's state key); l: a calls-at-once
-- lease (id: the lease; what: the scope's state key); r: a reservation against the run's budget
-- (id: the lease; what: `<tokens> <cost>`, then the envelope days it is held against too, if
-- any: see envelope.lua). Ids hold no spaces (call keys, UUIDs); step ids none either. A
-- script that releases holds is given their scopes' keys (holds-release.ts reads the entries
-- first): it never builds one.
local function holdEntry(kind, attempt, stepId, id, what)
  return kind .. ' ' .. attempt .. ' ' .. stepId .. ' ' .. id .. ' ' .. what
end
