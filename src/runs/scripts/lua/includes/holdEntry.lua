-- One hold of a run's provider call (keys.runHolds): `<kind> <attempt> <step id> <id> <what>`,
-- kind b: a turn booked (id: the call key; what: the scope's state key); l: a calls-at-once
-- lease (id: the lease; what: the scope's state key). A script that releases them is given the
-- scopes' keys (holds-release.ts reads the entries first): it never builds one. r: a reservation against the run's budget (id: the lease; what:
-- `<tokens> <cost>`). Ids hold no spaces (call keys, UUIDs); step ids none either.
local function holdEntry(kind, attempt, stepId, id, what)
  return kind .. ' ' .. attempt .. ' ' .. stepId .. ' ' .. id .. ' ' .. what
end
