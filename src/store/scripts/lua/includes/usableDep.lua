-- The fast path's rule for a dependency (src/model/run.ts, FAST_START_DEPS; FAST_DEP and
-- FAST_DEP_OPTIONAL come from there): usable when its status (its JSON text, as read) is one a
-- dependency may have, or one an optional dependency may have and it is optional.
local function usableDep(statusJson, optional)
  return FAST_DEP[statusJson] or (FAST_DEP_OPTIONAL[statusJson] and optional == 'true')
end
