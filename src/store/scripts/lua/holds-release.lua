-- Release what a run's provider calls hold (keys.runHolds, see holdEntry): all of them when the
-- run has ended, or those of some steps (cancelled), or of one step's attempts before a given
-- one (a recovered attempt took over). A booked turn leaves its scope's bookings and the scope's
-- request arrival time is given back (to the latest turn still booked or call made, plus one
-- interval): the calls after it no longer wait behind a turn nobody holds. A lease leaves its
-- scope's leases; a budget reservation is given back to the run (not for an ended run, whose
-- budget nothing reserves against any more).
-- A reservation is also given back to the envelope days it names (includes/envelope.lua), the
-- run ended or not.
-- KEYS: holds, run, then per scope the holds name: its state, its bookings, its leases (the
-- caller reads the holds first; a hold in a scope not given here is left, and counted); then per
-- envelope day the reservations name: the day, its leases.
-- ARGV: [1] release attempts below this one (0: every attempt), [2] '1' when the limiter's side
-- was released already (limiter-release, in the global slot: no scope is given, the turns and
-- leases selected only leave the holds), [3] how many scopes KEYS gives, [4...] step ids (none:
-- the whole run).
-- Returns {the number of holds released, the number left because their scope was not given}.
--@include envelope
--@include retimeScope
local all = #ARGV < 4
local steps = {}
for i = 4, #ARGV do steps[ARGV[i]] = true end
local below = tonumber(ARGV[1])
local elsewhere = ARGV[2] == '1'
-- A scope's state key → the index of its keys in KEYS; an envelope day's → its leases key.
local scope = {}
local envEnd = 2 + 3 * tonumber(ARGV[3])
for i = 3, envEnd, 3 do scope[KEYS[i]] = i end
local days = {}
for i = envEnd + 1, #KEYS, 2 do days[KEYS[i]] = KEYS[i + 1] end
local retime = {}
local tokens, cost, n, left = 0, 0, 0, 0
for _, e in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local kind, attempt, sid, id, what = string.match(e, '^(%a) (%d+) (%S+) (%S+) (.+)$')
  if kind and (all or (steps[sid] and (below == 0 or tonumber(attempt) < below))) then
    local at = scope[what]
    if kind ~= 'r' and not at and not elsewhere then
      left = left + 1
    else
      n = n + 1
      redis.call('ZREM', KEYS[1], e)
      -- A turn or lease without its scope's keys (elsewhere) was released in the limiter's slot.
      if kind == 'b' and at then
        redis.call('ZREM', KEYS[at + 1], id)
        retime[at] = true
      elseif kind == 'l' and at then
        redis.call('ZREM', KEYS[at + 2], id)
      elseif kind == 'r' then
        local tk, c, held = string.match(what, '^(%S+) (%S+)(.*)$')
        tokens, cost = tokens + tonumber(tk), cost + tonumber(c)
        for day in string.gmatch(held, '%S+') do
          if days[day] then envelopeRelease(day, days[day], id, tk, c) end
        end
      end
    end
  end
end
for at in pairs(retime) do retimeScope(at) end
if not all and (tokens > 0 or cost > 0) and redis.call('HEXISTS', KEYS[2], 'budget') == 1 then
  redis.call('HINCRBY', KEYS[2], 'reservedTokens', -tokens)
  redis.call('HINCRBYFLOAT', KEYS[2], 'reservedCostUsd', string.format('%.9f', -cost))
end
return {n, left}
