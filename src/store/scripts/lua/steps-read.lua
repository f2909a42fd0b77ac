-- Steps as step-begin reads them, for a step that reads too many to read in its own script (a
-- join of a wide fan-out): see readStep.
-- ARGV: [1] step key prefix, [2] one '1'/'0' per step (is its output needed?), [3..] step ids
-- Returns per step: status JSON ('"cancelled"' when missing), optional JSON, output JSON (null when not asked).
--@include readStep
local prefix, needs = ARGV[1], ARGV[2]
local out = {}
for i = 3, #ARGV do
  local k = i - 2
  local st, optional, output = readStep(prefix .. ARGV[i], string.sub(needs, k, k) == '1')
  out[#out + 1] = st
  out[#out + 1] = optional
  out[#out + 1] = output
end
return out
