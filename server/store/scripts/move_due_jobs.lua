-- Move the transcription jobs that are due from the waiting set to the jobs stream, in one
-- step: none is lost (taken from the set, never added) nor moved twice by two workers.
-- KEYS[1] the waiting zset (job JSON by due time), KEYS[2] the jobs stream
-- ARGV[1] now (ms), ARGV[2] at most this many
-- Returns how many were moved.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, job in ipairs(due) do
  redis.call('ZREM', KEYS[1], job)
  redis.call('XADD', KEYS[2], '*', 'job', job)
end
return #due
