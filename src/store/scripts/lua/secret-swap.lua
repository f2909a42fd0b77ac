-- Replace a workspace secret's record if its sealed value is still the one read (a value set
-- meanwhile wins), see src/store/secret-records.ts.
-- KEYS[1]: the workspace's secrets hash.
-- ARGV: name, the sealed value read, the new record JSON.
-- Returns 1 when replaced, 0 when the secret is gone or holds another value.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or cjson.decode(cur).sealed ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
