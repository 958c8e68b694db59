-- Erase an interview's data (on request, or when its retention ran out), atomically and only
-- if nobody changed it since it was read. The wrapped data key goes first: once it is gone,
-- every sealed record of the interview is unreadable wherever a copy survives (backups,
-- replicas, old AOF files): crypto-shredding. Then the data itself, then the personal
-- fields of the meta. The operation log is kept: the erasure's own entry waits in the meta
-- ('erasing') until the steps after this script are done and it is written
-- (server/retention.py), so an erasure cut short is finished, and logged, on the next try.
-- KEYS[1] the meta hash, KEYS[2..] the data keys to delete (current and archived attempts)
-- ARGV[1] expected version, ARGV[2] now_ms, ARGV[3] the log entry to write (JSON),
-- ARGV[4..] meta fields to remove
-- Returns 1 (and the version moves on), or 0 when the version changed (read again, decide
-- again).
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then
  return 0
end
redis.call('HDEL', KEYS[1], 'dek')
for k = 2, #KEYS do
  redis.call('DEL', KEYS[k])
end
if #ARGV >= 4 then
  redis.call('HDEL', KEYS[1], unpack(ARGV, 4))
end
redis.call('HSET', KEYS[1], 'erased_ms', ARGV[2], 'erasing', ARGV[3])
-- a change decided on what was read before (a reset, a new link) must not land now
redis.call('HINCRBY', KEYS[1], 'version', 1)
return 1
