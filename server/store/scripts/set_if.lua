-- Compare-and-set of one hash field: key rotation replaces an interview's wrapped data key
-- (or a masked form kept in clear) by its new form, only if it is still the value that was
-- read (nobody erased or rotated it in between). The records themselves are not touched.
-- KEYS[1] the hash (an interview's meta); ARGV[1] the field, ARGV[2] the value as read,
-- ARGV[3] the new one. Returns 1, or 0 when the field changed meanwhile.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
