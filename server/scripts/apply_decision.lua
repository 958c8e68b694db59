-- Apply one decision of the state machine if nobody changed the interview since it was read.
-- This compare-and-set on 'version' is what makes racing commands (a candidate's exit and
-- HR's end, two devices joining) end in exactly one outcome.
-- KEYS[1] meta hash, KEYS[2] answers hash, KEYS[3] events stream, KEYS[4] operation log,
-- optionally (an HR reset keeps the finished attempt read-only): KEYS[5] where to copy the
-- meta hash, then pairs KEYS[6], KEYS[7], ... of keys to rename (source, target).
-- ARGV[1] expected version, ARGV[2] now_ms, ARGV[3] events maxlen,
-- then: n_meta, field, value, ... ; n_answers, q, record, ... ; n_events, json, ... ;
--       n_log, json, ...
-- Returns {1, new_version, event_id...} or {0, current_version}.
local current = redis.call('HGET', KEYS[1], 'version')
if current ~= ARGV[1] then return {0, current or ''} end
if #KEYS >= 5 then
  redis.call('DEL', KEYS[5])
  redis.call('HSET', KEYS[5], unpack(redis.call('HGETALL', KEYS[1])))
  for k = 6, #KEYS - 1, 2 do
    if redis.call('EXISTS', KEYS[k]) == 1 then redis.call('RENAME', KEYS[k], KEYS[k + 1]) end
  end
end
local i = 4
local n = tonumber(ARGV[i]); i = i + 1
if n > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, i, i + 2 * n - 1))
  i = i + 2 * n
end
n = tonumber(ARGV[i]); i = i + 1
if n > 0 then
  redis.call('HSET', KEYS[2], unpack(ARGV, i, i + 2 * n - 1))
  i = i + 2 * n
end
local result = {1, redis.call('HGET', KEYS[1], 'version')}
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[i], 't', ARGV[2])
  table.insert(result, id)
  i = i + 1
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('XADD', KEYS[4], '*', 'e', ARGV[i], 't', ARGV[2])
  i = i + 1
end
return result
