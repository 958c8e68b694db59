-- Keep one answer's transcript (sealed on the hub), only if the interview is still on the
-- attempt it was made for and not erased: a transcription that finishes after an HR reset
-- or an erasure must not land in the new attempt's keys, nor bring erased data back.
-- KEYS[1] the meta hash, KEYS[2] the transcripts hash
-- ARGV[1] the attempt, ARGV[2] the question, ARGV[3] the sealed record
-- Returns 1, or 0 when nothing was written.
if (redis.call('HGET', KEYS[1], 'attempt') or '1') ~= ARGV[1] then return 0 end
if not redis.call('HGET', KEYS[1], 'dek') then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
