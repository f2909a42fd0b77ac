-- The workspace a run's key names (keys.ts's `<tag>:ws:<ws>:run:...`, the one place Lua reads
-- the key layout: the outbox's step entries carry it).
local function workspaceOf(key)
  return string.match(key, ':ws:([^:]+):run:') or 'default'
end
