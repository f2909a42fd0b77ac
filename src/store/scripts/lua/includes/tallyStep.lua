--@include usageJson
-- Count one ended step into its run's settlement (finishRun, steps-settle): a failure (with
-- `err`, its error JSON), a skip, its usage; `t.required`: the first failed step not optional.
-- t: {failed = {}, skipped = {}, inTok, outTok, cost (nil: none known), extra (nil: no cache
-- counts yet; see usageJson's addExtra), required (nil)}
-- v: the step's HMGET of status, usage, agent, kind, error, optional; st: its status.
local function tallyStep(t, sid, st, v, err)
  if st == 'failed' then
    t.failed[#t.failed + 1] = '{"stepId":' .. cjson.encode(sid) .. ',"kind":' .. (v[4] or '"agent"') .. ',"agent":' .. (v[3] or 'null') .. ',"error":' .. err .. '}'
    if v[6] ~= 'true' and not t.required then t.required = sid end
  elseif st == 'skipped' then
    t.skipped[#t.skipped + 1] = cjson.encode(sid)
  end
  local u = v[2]
  if u and u ~= 'null' then
    u = cjson.decode(u)
    t.inTok = t.inTok + (u.inputTokens or 0)
    t.outTok = t.outTok + (u.outputTokens or 0)
    if u.costUsd then t.cost = (t.cost or 0) + u.costUsd end
    t.extra = addExtra(t.extra, u)
  end
end
