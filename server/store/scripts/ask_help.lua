-- The candidate's request to HR (a reset, more time), recorded once while it is pending: a
-- second ask of the same kind changes nothing (HR is not told twice).
-- KEYS[1] the interview's meta; ARGV[1] the kind, ARGV[2] now (ms).
-- Returns {since_ms, 1} when that kind was already pending, {now, 0} when recorded now.
local current = redis.call('HGET', KEYS[1], 'help_request')
if current then
  local kind, since = string.match(current, '^([%a_]+):(%d+)$')
  if kind == ARGV[1] then
    return {since, 1}
  end
end
redis.call('HSET', KEYS[1], 'help_request', ARGV[1] .. ':' .. ARGV[2])
return {ARGV[2], 0}
