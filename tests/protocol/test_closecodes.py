"""WebSocket close codes: stable numbers the web client switches on."""

from __future__ import annotations

from protocol.closecodes import CloseCode


def test_close_codes_are_stable() -> None:
    """Every close code keeps its published number."""
    assert {c.name: c.value for c in CloseCode} == {
        "NORMAL": 1000,
        "POLICY_VIOLATION": 1008,
        "MESSAGE_TOO_BIG": 1009,
        "INTERNAL_ERROR": 1011,
        "EXITED": 4000,
        "COMPLETED": 4001,
        "TAKEN_OVER": 4002,
        "ENDED": 4003,
        "JOIN_REFUSED": 4004,
        "BAD_MESSAGES": 4005,
        "JOIN_TIMEOUT": 4006,
        "TOO_SLOW": 4007,
        "LOGGED_OUT": 4008,
        "NOT_AUTHENTICATED": 4009,
        "IDLE": 4010,
    }


def test_application_codes_are_in_the_private_range() -> None:
    """Codes of our own are in 4000-4999; the others are RFC 6455 codes a peer may send."""
    for code in CloseCode:
        assert 4000 <= code <= 4999 or code in (1000, 1008, 1009, 1011)
