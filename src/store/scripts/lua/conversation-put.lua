-- Write a conversation's record over the version the caller read, or delete it, with its entry
-- in the workspace's index and, with MongoDB, its outbox entry (see src/store/conversations.ts).
-- KEYS[1]: the conversation's key; KEYS[2]: the workspace's index; KEYS[3]: the cell's outbox.
-- ARGV: id, expected version ('0': it must not exist yet), record JSON ('': delete it),
--       creation time (ms, the index's score), outbox ('1' to copy the change there), the
--       outbox entry's id (`<ws>/<id>`).
-- Returns 1 when written (or deleted), 0 when the record is at another version (or missing).
local cur = redis.call('GET', KEYS[1])
if ARGV[2] == '0' then
  if cur then return 0 end
else
  if not cur or tostring(cjson.decode(cur).version) ~= ARGV[2] then return 0 end
end
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  if ARGV[5] == '1' then redis.call('XADD', KEYS[3], '*', 'kind', 'conversation', 'id', ARGV[6], 'doc', cur, 'deleted', '1') end
  return 1
end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
if ARGV[5] == '1' then redis.call('XADD', KEYS[3], '*', 'kind', 'conversation', 'id', ARGV[6], 'doc', ARGV[3]) end
return 1
