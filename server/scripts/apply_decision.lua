-- Apply one decision of the state machine if nobody changed the interview since it was read.
-- This compare-and-set on 'version' is what makes racing commands (a candidate's exit and
-- HR's end, two devices joining) end in exactly one outcome.
-- KEYS[1] meta hash, KEYS[2] answers hash, KEYS[3] events stream, KEYS[4] operation log,
-- KEYS[5] the log's head (chained as in append_log.lua),
-- optionally (an HR reset keeps the finished attempt read-only): KEYS[6] where to copy the
-- meta hash, then pairs KEYS[7], KEYS[8], ... of keys to rename (source, target).
-- ARGV[1] expected version, ARGV[2] now_ms, ARGV[3] events maxlen,
-- then: n_meta, field, value, ... ; n_answers, q, record, ... ; n_events, json, ... ;
--       n_log, json, ... ; inner key, outer key (for the log chain)
-- Returns {1, new_version, event_id...} or {0, current_version}.
local current = redis.call('HGET', KEYS[1], 'version')
if current ~= ARGV[1] then return {0, current or ''} end
if #KEYS >= 6 then
  redis.call('DEL', KEYS[6])
  redis.call('HSET', KEYS[6], unpack(redis.call('HGETALL', KEYS[1])))
  for k = 7, #KEYS - 1, 2 do
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
local inner, outer = ARGV[i + n], ARGV[i + n + 1]
local prev = redis.call('GET', KEYS[5]) or 'genesis'
for _ = 1, n do
  local link = redis.sha1hex(outer .. redis.sha1hex(inner .. prev .. '\n' .. ARGV[2] .. '\n' .. ARGV[i]))
  redis.call('XADD', KEYS[4], '*', 'e', ARGV[i], 't', ARGV[2], 'p', prev, 'h', link)
  prev = link
  i = i + 1
end
if n > 0 then redis.call('SET', KEYS[5], prev) end
return result
