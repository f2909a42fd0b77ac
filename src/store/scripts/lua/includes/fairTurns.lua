-- Fair turns of one workspace's new jobs on one queue (start-time fair queueing over workspaces,
-- each job one unit; see docs/adr/006-fair-sharing.md). BullMQ takes a queue's plain wait list
-- first, then its prioritized jobs lowest priority first (FIFO among equals): a job's turn is
-- its priority, so BullMQ itself serves the workspaces in turn.
-- k: {the queue's fair state (keys.fairTurns), its BullMQ prioritized set, its BullMQ wait list}
-- ws: the workspace; share: how many jobs may wait plain in the wait list while nothing is
-- prioritized (the pool's width); base: the queue's job key base (a job's hash is
-- <base><jobId>); ttl: seconds the state lives after its last write (as text); ids: ARGV holds the new
-- jobs' ids, in the order they should go, at first .. first + n - 1.
-- Returns one priority per job: 0 (the plain wait list), else its turn (1 .. 2^21-1). The plain
-- case (nothing prioritized, room in the wait list for every job) reads three keys, no more.
local FAIR_MAX_PRIORITY = 2097151
-- A workspace whose last job is gone (cancelled, or done) has no backlog left, unless that job
-- was given its turn only a moment ago (its flow may still be on its way to BullMQ).
local FAIR_GONE_AFTER_MS = 5000
local function fairTurns(k, ws, share, base, ttl, first, n)
  -- Arguments as text: a number given to redis.call is formatted (%.17g) on every call.
  local head = redis.call('ZRANGE', k[2], '0', '0', 'WITHSCORES')
  local v = 0
  local waiting
  if head[1] == nil then
    -- Nothing prioritized: no workspace has a backlog beyond the plain jobs, so every turn
    -- starts again from 0 (this also keeps turns far below BullMQ's priority bound).
    redis.call('DEL', k[1])
    waiting = redis.call('LLEN', k[3])
    if waiting + n <= share then
      local out = {}
      for i = 1, n do out[i] = 0 end
      return out
    end
  end
  local fk, jk, tk = 'f:' .. ws, 'j:' .. ws, 't:' .. ws
  -- The state in one read: the virtual time, and the workspace's last turn, job and time (none
  -- when it was deleted just now).
  local state = {}
  if head[1] ~= nil then
    state = redis.call('HMGET', k[1], 'v', fk, jk, tk)
    -- The virtual time: the turn BullMQ serves next (a score is priority * 2^32 + a counter), never back.
    v = math.max(tonumber(state[1] or '0'), math.floor(tonumber(head[2]) / 4294967296) - 1)
    waiting = share
  end
  -- Now in ms, as text: TIME's seconds, then the first three of its microseconds' six digits (a
  -- number given to redis.call is formatted on every call; this one is read as a number only
  -- for the gone check below).
  local clock = redis.call('TIME')
  local now = clock[1] .. string.sub('00000' .. clock[2], -6, -4)
  local f = tonumber(state[2] or '0')
  if f > v and (not state[3] or redis.call('EXISTS', base .. state[3]) == 0) and tonumber(now) - tonumber(state[4] or '0') > FAIR_GONE_AFTER_MS then
    f = v
  end
  local turn = math.max(v, f)
  local out = {}
  local last
  for i = 1, n do
    if waiting < share then
      out[i] = 0
      waiting = waiting + 1
    else
      turn = turn + 1
      out[i] = math.min(turn, FAIR_MAX_PRIORITY)
      last = ARGV[first + i - 1]
    end
  end
  if last then
    redis.call('HSET', k[1], 'v', v, fk, turn, jk, last, tk, now)
    redis.call('EXPIRE', k[1], ttl)
  end
  return out
end
