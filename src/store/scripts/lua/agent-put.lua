-- Write a workspace agent's record if its version is the expected one, with its entry in the
-- cell's index, and tell the worker processes (see src/store/agent-records.ts).
-- KEYS[1]: the workspace's agents hash; KEYS[2]: the cell's agent index.
-- ARGV: name, expected version ('0': the agent must not exist yet), record JSON, index field,
--       index entry JSON, the channel to publish the index field on.
-- Returns 1 when written, 0 when the agent exists (creating) or is at another version.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '0' then
  if cur then return 0 end
else
  if not cur or tostring(cjson.decode(cur).version) ~= ARGV[2] then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[4])
return 1
