-- Append operation-log entries, each chained to the one before by a keyed hash.
-- KEYS[1] log stream, KEYS[2] its head (the last link)
-- ARGV[1] inner key, ARGV[2] outer key (the hub secret XOR the HMAC pads: never stored),
-- ARGV[3] time (ms), then one JSON entry per remaining argument.
-- link = sha1(outer .. sha1(inner .. prev .. "\n" .. t .. "\n" .. e)), an HMAC-style MAC:
-- changing, removing, reordering or cutting entries breaks the chain, and rewriting the
-- whole chain needs the secret. Returns the new head.
local prev = redis.call('GET', KEYS[2]) or 'genesis'
for i = 4, #ARGV do
  local link = redis.sha1hex(ARGV[2] .. redis.sha1hex(ARGV[1] .. prev .. '\n' .. ARGV[3] .. '\n' .. ARGV[i]))
  redis.call('XADD', KEYS[1], '*', 'e', ARGV[i], 't', ARGV[3], 'p', prev, 'h', link)
  prev = link
end
redis.call('SET', KEYS[2], prev)
return prev
