-- Append operation-log entries sealed on the hub (server/audit.py): each entry's MAC
-- covers its log, position, stream id, time, body and the MAC before it, and is computed
-- on the hub, whose key never reaches Redis. This script only checks that the log's head
-- is still the one the entries were chained to (a compare-and-set), and writes them.
-- KEYS[1] log stream, KEYS[2] its head ("<n> <id> <mac>"), KEYS[3] the token of the call
-- that last moved the head (kept ARGV[4] ms)
-- ARGV[1] the expected head ("" for an empty log), ARGV[2] the new head, ARGV[3] this
-- call's token (random), ARGV[4] how long to keep it,
-- then five per entry: stream id, t, n, e (JSON), m (MAC)
-- Returns {1} (also when this very call was applied before, and is resent after a lost
-- reply), or {0, current head, the stream's last id} when the head moved or an id is not
-- above the stream's last one (nothing is written then).
local function last_id()
  if redis.call('EXISTS', KEYS[1]) == 0 then return '0-0' end
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for k = 1, #info, 2 do
    if info[k] == 'last-generated-id' then return info[k + 1] end
  end
  return '0-0'
end
local head = redis.call('GET', KEYS[2]) or ''
-- these very entries, already written by this very call (resent after a lost reply): done.
-- The head alone cannot tell: another hub appending the same entries at the same
-- millisecond after the same head makes the same new head, and its entries are not ours.
if head == ARGV[2] and ARGV[2] ~= ARGV[1] and redis.call('GET', KEYS[3]) == ARGV[3] then
  return {1}
end
if head ~= ARGV[1] then return {0, head, last_id()} end
for i = 5, #ARGV, 5 do
  local added = redis.pcall('XADD', KEYS[1], ARGV[i], 'e', ARGV[i + 3], 't', ARGV[i + 1],
                            'n', ARGV[i + 2], 'm', ARGV[i + 4])
  if type(added) == 'table' and added.err then
    -- ids grow within a call, so only the first can be refused: nothing was written
    return {0, head, last_id()}
  end
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
return {1}
