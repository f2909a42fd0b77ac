-- Replace a record that holds a sealed value (a workspace secret, a webhook's secret) if that
-- value is still the one read: one set or removed meanwhile wins (see `reencrypt`:
-- src/agents/keyring.ts `reseal`).
-- KEYS[1]: a hash of records by field (a workspace's secrets, its webhook subscriptions), or a
--          record kept as a string (a run's own webhook: its time to live is kept).
-- ARGV: the record's field ('': KEYS[1] is the record), the sealed value read, the new record JSON.
-- Returns 1 when replaced, 0 when the record is gone or holds another sealed value.
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
