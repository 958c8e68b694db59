"""WebSocket close codes used by the hub (RFC 6455 §7.4: 4000-4999 are ours to define)."""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    NORMAL = 1000
    POLICY_VIOLATION = 1008  # a client that does not read its messages (outbox full); also a
    # handshake refusal on an ASGI server without the websocket.http.response extension
    MESSAGE_TOO_BIG = 1009  # a frame larger than the hub accepts
    INTERNAL_ERROR = 1011  # our bug; the peer is told nothing more
    EXITED = 4000  # the candidate confirmed the exit
    COMPLETED = 4001  # every question is closed
    TAKEN_OVER = 4002  # another device joined the same interview
    ENDED = 4003  # HR ended the interview
    JOIN_REFUSED = 4004  # the join was refused; a Refused message with the reason came first
    BAD_MESSAGES = 4005  # too many malformed or invalid messages on this socket
    JOIN_TIMEOUT = 4006  # no join message within the join timeout
    TOO_SLOW = 4007  # a monitor that could not keep up (its queue filled)
    LOGGED_OUT = 4008  # the HR session ended (logout, expiry)
    NOT_AUTHENTICATED = 4009  # a monitor socket without a valid HR session
    IDLE = 4010  # a joined candidate socket that sent nothing for the idle timeout


# What a client does after each close (SPEC §13): the candidate's clients (the web app, the
# Python client, the load tests) and the HR console's monitor read these, never their own
# lists. After these a candidate's client does not reconnect by itself: the interview is
# over for this socket (4000, 4001, 4003), another device has it (4002), or reconnecting
# cannot help (4004 refused, 4005 a broken client).
CANDIDATE_FINAL = frozenset(
    {
        CloseCode.EXITED,
        CloseCode.COMPLETED,
        CloseCode.TAKEN_OVER,
        CloseCode.ENDED,
        CloseCode.JOIN_REFUSED,
        CloseCode.BAD_MESSAGES,
    }
)
# After 4010 the candidate's client reconnects when the candidate does something again
CANDIDATE_WAITS_FOR_ACTIVITY = frozenset({CloseCode.IDLE})
# After these a monitor does not reconnect: its HR session is gone
MONITOR_FINAL = frozenset({CloseCode.LOGGED_OUT, CloseCode.NOT_AUTHENTICATED})
