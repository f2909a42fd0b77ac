-- The writes a step applied lately, by id, so that a retry of one whose reply was lost is
-- recognised: its `written` field holds '<1|0>:<id>' entries (1: it applied; 0: it did not,
-- its usage kept as a late one), comma-separated, the last WRITES_KEPT of them (a retry comes
-- right after its own try; another delivery may write in between).
local WRITES_KEPT = 4

-- How the write `id` went before: '1', '0', or nil (not seen, or no id).
local function seenWrite(written, id)
  if id == '' or not written then return nil end
  local at = string.find(written, ':' .. id, 1, true)
  if not at then return nil end
  return string.sub(written, at - 1, at - 1)
end

-- The `written` field with the write `id` noted (nil when it has no id).
local function noteWrite(written, id, applied)
  if id == '' then return nil end
  local entry = (applied and '1:' or '0:') .. id
  if not written then return entry end
  local kept = {}
  for e in string.gmatch(written, '[^,]+') do kept[#kept + 1] = e end
  while #kept >= WRITES_KEPT do table.remove(kept, 1) end
  kept[#kept + 1] = entry
  return table.concat(kept, ',')
end

-- Note the write `id` on the step `key` (nothing when it has no id).
local function keepWrite(key, written, id, applied)
  if id ~= '' then redis.call('HSET', key, 'written', noteWrite(written, id, applied)) end
end
