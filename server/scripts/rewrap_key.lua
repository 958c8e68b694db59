-- Key rotation: replace an interview's wrapped data key by the same key wrapped under the
-- current master key, only if it is still the one that was read (nobody erased or rotated
-- it in between). The records sealed with the data key are not touched.
-- KEYS[1] the interview's meta hash; ARGV[1] the stored value as read, ARGV[2] the new one.
if redis.call('HGET', KEYS[1], 'dek') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'dek', ARGV[2])
return 1
