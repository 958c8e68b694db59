-- Forget a dead hub once its sockets are released, unless it came back meanwhile.
-- KEYS[1] hub:<id>:alive, KEYS[2] hub:<id>:sockets, KEYS[3] hubs; ARGV[1] the hub's id.
-- The released sockets were removed one by one before (SREM): what is left was registered
-- since, by the hub itself if it lives. Returns 1 when it was forgotten, 0 when it lives.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('DEL', KEYS[2])
end
return 1
