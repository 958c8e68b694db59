-- Release a claim (SET key token NX PX ...) only if it is still ours: one that expired and
-- was taken by another process meanwhile is theirs.
-- KEYS[1] the claim; ARGV[1] our token. Returns 1 when released, 0 when it was not ours.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
