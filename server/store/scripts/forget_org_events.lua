-- Remove an erased interview's entries from its organisation's event stream for good.
-- XDEL only marks an entry deleted inside its listpack node: the bytes (a device string, HR's
-- note) stay, and the RDB and a rewritten AOF copy the node as it is. A node is freed only
-- once every entry in it is deleted. So every entry from the node holding the interview's
-- first entry on is deleted and the others' are added back under their own ids (monitors'
-- offsets still hold), and the stream's last id is put back. Atomic: nobody sees it half done.
-- KEYS[1] the organisation's event stream
-- ARGV[1] the interview id, ARGV[2] the id of its first entry in the stream,
-- ARGV[3] entries per node at most (stream-node-max-entries; 0: unknown, rewrite it all)
-- Returns how many entries were removed.
local stream, owner, first, per_node = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', stream) == 0 then
  return 0
end
local function last_generated_id()
  local info = redis.call('XINFO', 'STREAM', stream)
  for k = 1, #info, 2 do
    if info[k] == 'last-generated-id' then return info[k + 1] end
  end
end
-- The node holding `first` holds at most per_node entries, so the entry per_node places
-- before it is in an earlier node: it stays, and everything after it is written anew.
local keep_up_to = nil
if per_node > 0 then
  local before = redis.call('XREVRANGE', stream, first, '-', 'COUNT', per_node + 1)
  if #before == per_node + 1 then keep_up_to = before[#before][1] end
end
local rows = redis.call('XRANGE', stream, keep_up_to and ('(' .. keep_up_to) or '-', '+')
local kept, removed = {}, 0
for i = 1, #rows do
  local fields, mine = rows[i][2], false
  for k = 1, #fields, 2 do
    if fields[k] == 'iv' then
      mine = fields[k + 1] == owner
      break
    end
  end
  if mine then removed = removed + 1 else kept[#kept + 1] = rows[i] end
end
if removed == 0 then
  return 0
end
local last = last_generated_id()
if keep_up_to then
  for i = 1, #rows, 500 do
    local ids = {}
    for j = i, math.min(i + 499, #rows) do ids[#ids + 1] = rows[j][1] end
    redis.call('XDEL', stream, unpack(ids))
  end
  redis.call('XSETID', stream, keep_up_to) -- so the kept ones can be added back after it
else
  redis.call('DEL', stream)
end
for i = 1, #kept do
  redis.call('XADD', stream, kept[i][1], unpack(kept[i][2]))
end
if redis.call('EXISTS', stream) == 1 then
  redis.call('XSETID', stream, last)
else
  -- nothing left: an empty stream whose ids go on where they were
  redis.call('XADD', stream, last, 'iv', '')
  redis.call('XDEL', stream, last)
end
return removed
