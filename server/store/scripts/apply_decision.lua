-- Apply one decision of the state machine if nobody changed the interview since it was read.
-- This compare-and-set on 'version' is what makes racing commands (a candidate's exit and
-- HR's end, two devices joining) end in exactly one outcome. The operation-log entries that
-- go with the change come sealed from the hub (see append_log.lua) and are written in the
-- same step, if the log's head is still the one they were chained to.
-- KEYS[1] meta hash, KEYS[2] answers hash, KEYS[3] events stream, KEYS[4] operation log,
-- KEYS[5] the log's head, KEYS[6] the token of the call that last moved it (as append_log.lua),
-- optionally (an HR reset keeps the finished attempt read-only): KEYS[7] where to copy the
-- meta hash, then pairs KEYS[8], KEYS[9], ... of keys to rename (source, target).
-- ARGV[1] expected version, ARGV[2] now_ms, ARGV[3] events maxlen, ARGV[4] expected log
-- head, ARGV[5] new log head, ARGV[6] this call's token (random), ARGV[7] how long to keep
-- it (ms),
-- then: n_meta, field, value, ... ; n_answers, q, record, ... ; n_events, json, ... ;
--       n_log, then five per entry: stream id, t, n, e, m
-- Returns {1, new_version, event_id...}, {0, current_version} when the version or the
-- log's head moved, or {2, the log's last id} when a log id is not above it.
-- The same decision applied twice (a client that resent the call after a lost reply) is
-- recognised by its new log head and its token: it answers as the first time did, and
-- changes nothing. The head alone cannot tell: another decision from the same snapshot
-- with the same entry at the same millisecond (the same device joining on two sockets)
-- makes the same head, and must decide again.
local current = redis.call('HGET', KEYS[1], 'version')
if current ~= ARGV[1] then
  if ARGV[5] ~= ARGV[4] and redis.call('GET', KEYS[5]) == ARGV[5]
      and redis.call('GET', KEYS[6]) == ARGV[6] then
    local result = {1, current}
    for id in string.gmatch(redis.call('HGET', KEYS[1], 'last_events') or '', '[^,]+') do
      table.insert(result, id)
    end
    return result
  end
  return {0, current or ''}
end
-- find the log entries first: they are written before anything else, so a refused id
-- leaves everything as it was
local i = 8
local sections = {}
for s = 1, 3 do
  sections[s] = i
  local n = tonumber(ARGV[i])
  i = i + 1 + n * (s == 3 and 1 or 2)
end
local n_log = tonumber(ARGV[i]); i = i + 1
if n_log > 0 and (redis.call('GET', KEYS[5]) or '') ~= ARGV[4] then return {0, current} end
for _ = 1, n_log do
  local added = redis.pcall('XADD', KEYS[4], ARGV[i], 'e', ARGV[i + 3], 't', ARGV[i + 1],
                            'n', ARGV[i + 2], 'm', ARGV[i + 4])
  if type(added) == 'table' and added.err then
    local info = redis.call('XINFO', 'STREAM', KEYS[4])
    for k = 1, #info, 2 do
      if info[k] == 'last-generated-id' then return {2, info[k + 1]} end
    end
    return {2, '0-0'}
  end
  i = i + 5
end
if n_log > 0 then
  redis.call('SET', KEYS[5], ARGV[5])
  redis.call('SET', KEYS[6], ARGV[6], 'PX', ARGV[7])
end
if #KEYS >= 7 then
  redis.call('DEL', KEYS[7])
  redis.call('HSET', KEYS[7], unpack(redis.call('HGETALL', KEYS[1])))
  for k = 8, #KEYS - 1, 2 do
    if redis.call('EXISTS', KEYS[k]) == 1 then redis.call('RENAME', KEYS[k], KEYS[k + 1]) end
  end
end
i = sections[1]
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
local ids = {}
for _ = 1, n do
  local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[i], 't', ARGV[2])
  table.insert(result, id)
  table.insert(ids, id)
  i = i + 1
end
redis.call('HSET', KEYS[1], 'last_events', table.concat(ids, ','))
return result
