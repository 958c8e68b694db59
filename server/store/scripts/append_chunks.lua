-- Store a run of answer chunks from one socket, in order, each exactly once.
-- KEYS[1] meta hash, KEYS[2] seqs hash (q -> last stored seq), KEYS[3] chunks stream
-- ARGV: session, q, arrived_ms, max_seq, max_bytes (0: none), seal_overhead, then seq1,
--       kind1, data1, seq2, ... (kind: s text, b binary; data sealed, seal_overhead bytes
--       longer than what the candidate sent). arrived_ms is when the hub received the first
--       chunk of this run. The seqs hash also keeps "<q>:bytes", the answer's size so far,
--       and "<q>:full" once a chunk did not fit: every later new chunk of q is too long as
--       well (not a gap, which would ask the client to send again what can never fit).
-- Returns {code, last_stored_seq, detail, stored} (named in protocol/session.py AppendResult;
-- stored: how many chunks of this run were new, for /metrics; absent for codes below 0):
--   0 stored (or already stored: a resend is harmless and acknowledged again),
--   2 gap before a chunk, 3 answer too long (seqs or bytes), 4 the open question's time was up when a new
--   chunk arrived (nothing after the deadline is part of the answer),
--   -1 interview not in progress (detail: state), -2 this socket no longer holds the
--   interview (detail: the session that holds it now, '' when nobody does: this socket's
--   hold was released, not taken by another device), -3 q is not the open question.
local m = redis.call('HMGET', KEYS[1], 'state', 'session', 'current_q', 'question_deadline_ms')
if m[1] ~= 'in_progress' then return {-1, 0, m[1] or 'missing'} end
if m[2] ~= ARGV[1] then return {-2, 0, m[2] or ''} end
if m[3] ~= ARGV[2] then return {-3, 0, m[3]} end
local deadline = tonumber(m[4] or '0')
local late = deadline > 0 and tonumber(ARGV[3]) >= deadline
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
local max_seq = tonumber(ARGV[4])
local max_bytes = tonumber(ARGV[5])
local overhead = tonumber(ARGV[6])
local bytes_field = ARGV[2] .. ':bytes'
local bytes = tonumber(redis.call('HGET', KEYS[2], bytes_field) or '0')
local full_field = ARGV[2] .. ':full'
local full = redis.call('HEXISTS', KEYS[2], full_field) == 1
local stored = 0

local function done(code)
  if stored > 0 then
    redis.call('HSET', KEYS[2], ARGV[2], last, bytes_field, bytes)
    redis.call('HSET', KEYS[1], 'last_activity_ms', ARGV[3])
  end
  if code == 3 and not full then redis.call('HSET', KEYS[2], full_field, '1') end
  return {code, last, '', stored}
end

for i = 7, #ARGV, 3 do
  local seq = tonumber(ARGV[i])
  if seq > last then
    if late then return done(4) end
    if full then return done(3) end
    if seq ~= last + 1 then return done(2) end
    if seq > max_seq then return done(3) end
    local size = #ARGV[i + 2] - overhead
    if max_bytes > 0 and bytes + size > max_bytes then return done(3) end
    redis.call('XADD', KEYS[3], '*', 'q', ARGV[2], 'seq', seq, 'k', ARGV[i + 1], 'd', ARGV[i + 2],
      't', ARGV[3])
    last = seq
    bytes = bytes + size
    stored = stored + 1
  end
end
return done(0)
