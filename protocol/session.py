"""The per-socket rules of a candidate connection that do not need a socket (sans-I/O).

What the hub answers when a run of chunks was written (append_chunks.lua's reply), and how
a socket closes when its interview left ``in_progress`` under it: one table each, so the
three places that used to choose close codes and replies agree, and both are unit-tested
without a socket (tests/protocol/test_session.py). The hub's connection (server/hub.py)
does the I/O: it feeds the result in and sends what comes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from protocol.closecodes import CloseCode
from protocol.interview import State
from protocol.reasons import Reason


class AppendResult(IntEnum):
    """The first value of append_chunks.lua's reply ``{code, last_stored_seq, detail}``
    (codes from 0 up add ``stored``, the run's new chunks, which only /metrics reads)."""

    STORED = 0  # stored, or already stored (a resend is harmless and acknowledged again)
    GAP = 2  # a chunk came after a missing one: it and those behind it were dropped
    TOO_LONG = 3  # the answer is full (seqs or bytes): no resend can add to it
    TIME_UP = 4  # the open question's time was up when a new chunk arrived
    NOT_IN_PROGRESS = -1  # detail: the interview's state now
    NOT_HOLDER = -2  # detail: the session holding the interview now ("" if nobody)
    NOT_CURRENT = -3  # q is not the open question


@dataclass(frozen=True, slots=True)
class AppendOutcome:
    """What the socket does about one written run of chunks of question ``q``."""

    ack: int | None = None  # ack{q, ack} to send (None: no ack)
    check_gap: bool = False  # say seq_gap if this socket sent chunks above ``last``
    answer_closed: bool = False  # the answer takes no more chunks: never ask for a resend
    refusal: Reason | None = None  # refused{reason, "chunk"} to send, the socket stays
    close: CloseCode | None = None  # close the socket (TAKEN_OVER / INTERRUPTED below)
    interrupted: bool = False  # close 1011 connection_interrupted: the client resumes
    state: str | None = None  # NOT_IN_PROGRESS: the state to close for (close_for_state)


def append_outcome(code: int, last: int, acked: int, detail: str, idle: bool) -> AppendOutcome:
    """The outcome table of a written run: ``code``/``last``/``detail`` from the script,
    ``acked`` what this socket already acknowledged for the question, ``idle`` whether
    nothing else of this socket is still being written.

    A stored run, and a too-long or late one that still stored something new, are acked
    (a resend of stored chunks is acked again: the client may have missed it). A gap is
    checked for at once; after a stored run, only when nothing is in flight (nothing still
    being written could fill it)."""
    result = AppendResult(code)
    new_ack = last if result is AppendResult.STORED or last > acked else None
    if result is AppendResult.STORED:
        return AppendOutcome(ack=last, check_gap=idle)
    if result is AppendResult.GAP:
        return AppendOutcome(ack=new_ack, check_gap=True)
    if result is AppendResult.TOO_LONG:
        return AppendOutcome(ack=new_ack, answer_closed=True, refusal=Reason.ANSWER_TOO_LONG)
    if result is AppendResult.TIME_UP:
        # the question's timer closes it next
        return AppendOutcome(ack=new_ack, answer_closed=True, refusal=Reason.TIME_UP)
    if result is AppendResult.NOT_CURRENT:
        return AppendOutcome(refusal=Reason.NOT_CURRENT_QUESTION)
    if result is AppendResult.NOT_HOLDER:
        # another socket holds the interview now (its control message may be coming), or
        # this socket's hold was released while Redis was away: then it resumes
        if detail:
            return AppendOutcome(close=CloseCode.TAKEN_OVER)
        return AppendOutcome(interrupted=True)
    return AppendOutcome(state=detail)  # NOT_IN_PROGRESS: the detail is the state


class OnRefusal(StrEnum):
    """What a socket does when the state machine refused one of its commands."""

    TAKEN_OVER = "taken_over"  # another device holds the interview: taken_over + 4002
    INTERRUPTED = "interrupted"  # its hold was released (an outage): 1011, it resumes
    CLOSE_FOR_STATE = "close_for_state"  # the interview left in_progress: close_for_state
    REFUSE = "refuse"  # refused{reason}; the socket stays open


def on_refusal(reason: str) -> OnRefusal:
    """The table for a refused command's reason."""
    if reason == Reason.TAKEN_OVER:
        return OnRefusal.TAKEN_OVER
    if reason == Reason.CONNECTION_INTERRUPTED:
        return OnRefusal.INTERRUPTED
    if reason in (Reason.INTERVIEW_ENDED, Reason.NOT_IN_PROGRESS):
        return OnRefusal.CLOSE_FOR_STATE
    return OnRefusal.REFUSE


def close_for_state(state: str, exited_known: bool) -> CloseCode:
    """How a socket closes when its interview left ``in_progress`` under it, whoever
    learned of it first (the control message, a write, a command): ``ended`` + 4003; an
    exit (confirmed over HTTP) as ``exited`` + 4000 when its message can be read, never a
    1000 that a client would answer by joining again; otherwise
    ``refused{not_in_progress, fatal}`` + 1000."""
    if state == State.ENDED:
        return CloseCode.ENDED
    if state == State.EXITED and exited_known:
        return CloseCode.EXITED
    return CloseCode.NORMAL


__all__ = [
    "AppendOutcome",
    "AppendResult",
    "OnRefusal",
    "append_outcome",
    "close_for_state",
    "on_refusal",
]
