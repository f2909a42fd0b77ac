-- What a delivery paid for, kept when its write did not apply (the step ended, or another
-- attempt runs it): added to the step's usage, and to its run's once the run has finished
-- (its total was summed then), the run's record handed to the outbox again; with `sendStep`,
-- the step's too when it has ended (step-complete sends its own).
--@include addUsage
--@include outboxRun
--@include outboxStep
local function addLateUsage(stepKey, runKey, outboxKey, outbox, usage, sendStep)
  if usage == '' or usage == 'null' then return end
  addUsage(stepKey, 'usage', usage)
  if sendStep and outbox then
    local st = redis.call('HGET', stepKey, 'status')
    if st and TERMINAL[cjson.decode(st)] then outboxStep(outboxKey, stepKey) end
  end
  local rs = redis.call('HGET', runKey, 'status')
  if rs and TERMINAL[cjson.decode(rs)] then
    addUsage(runKey, 'usage', usage)
    if outbox then outboxRun(outboxKey, runKey) end
  end
end
