-- Replace a webhook's record if its sealed secret is still the one read (a webhook removed or
-- expired meanwhile stays so), see src/store/webhook-records.ts.
-- KEYS[1]: the workspace's subscriptions hash, or a run's own webhook (a string: its time to
-- live is kept).
-- ARGV: the subscription's id ('': KEYS[1] is a run's own webhook), the sealed secret read, the
--       new record JSON.
-- Returns 1 when replaced, 0 when the webhook is gone or holds another secret.
local field = ARGV[1]
local cur
if field == '' then cur = redis.call('GET', KEYS[1]) else cur = redis.call('HGET', KEYS[1], field) end
if not cur or cjson.decode(cur).sealed ~= ARGV[2] then return 0 end
if field ~= '' then
  redis.call('HSET', KEYS[1], field, ARGV[3])
  return 1
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[3]) end
return 1
