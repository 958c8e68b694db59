"""The per-socket outcome tables, without a socket: what a written run of chunks gets (ack, gap check, refusal, close) for every append_chunks.lua result, how a refused command is handled, and how a socket closes when its interview left in_progress."""

from __future__ import annotations

import pytest

from protocol.closecodes import CloseCode
from protocol.reasons import Reason
from protocol.session import (
    AppendOutcome,
    AppendResult,
    OnRefusal,
    append_outcome,
    close_for_state,
    on_refusal,
)


def test_the_script_codes_are_named() -> None:
    """append_chunks.lua's bare reply codes have one name each (its header documents the same numbers)."""
    assert {r.name: int(r) for r in AppendResult} == {
        "STORED": 0,
        "GAP": 2,
        "TOO_LONG": 3,
        "TIME_UP": 4,
        "NOT_IN_PROGRESS": -1,
        "NOT_HOLDER": -2,
        "NOT_CURRENT": -3,
    }


@pytest.mark.parametrize(
    ("code", "last", "acked", "detail", "idle", "expected"),
    [
        # stored: acked (again, for a resend); a gap is looked for only when nothing is in flight
        (0, 7, 5, "", False, AppendOutcome(ack=7)),
        (0, 5, 5, "", True, AppendOutcome(ack=5, check_gap=True)),
        # a gap: acked only if it stored something new, always checked
        (2, 6, 5, "", False, AppendOutcome(ack=6, check_gap=True)),
        (2, 5, 5, "", False, AppendOutcome(check_gap=True)),
        # full or late: no resend can add to it; refused with the reason, acked if it grew
        (
            3,
            9,
            5,
            "",
            True,
            AppendOutcome(ack=9, answer_closed=True, refusal=Reason.ANSWER_TOO_LONG),
        ),
        (3, 5, 5, "", True, AppendOutcome(answer_closed=True, refusal=Reason.ANSWER_TOO_LONG)),
        (4, 5, 5, "", False, AppendOutcome(answer_closed=True, refusal=Reason.TIME_UP)),
        (-3, 0, 5, "", False, AppendOutcome(refusal=Reason.NOT_CURRENT_QUESTION)),
        # another device holds it: 4002; nobody holds it (released in an outage): resume
        (-2, 0, 5, "session-b", False, AppendOutcome(close=CloseCode.TAKEN_OVER)),
        (-2, 0, 5, "", False, AppendOutcome(interrupted=True)),
        (-1, 0, 5, "ended", False, AppendOutcome(state="ended")),
    ],
)
def test_every_written_run_has_one_outcome(
    code: int, last: int, acked: int, detail: str, idle: bool, expected: AppendOutcome
) -> None:
    """Each script result maps to exactly the ack, gap check, refusal and close of SPEC §6.3."""
    assert append_outcome(code, last, acked, detail, idle) == expected


def test_an_unknown_script_code_is_our_bug() -> None:
    """A reply code the table does not know raises instead of being guessed at."""
    with pytest.raises(ValueError):
        append_outcome(7, 0, 0, "", True)


def test_a_refused_command_closes_only_when_the_socket_cannot_go_on() -> None:
    """taken_over closes 4002, connection_interrupted 1011 (resume), an ended or left interview closes by its state, every other refusal leaves the socket open."""
    assert on_refusal(Reason.TAKEN_OVER) is OnRefusal.TAKEN_OVER
    assert on_refusal(Reason.CONNECTION_INTERRUPTED) is OnRefusal.INTERRUPTED
    assert on_refusal(Reason.INTERVIEW_ENDED) is OnRefusal.CLOSE_FOR_STATE
    assert on_refusal(Reason.NOT_IN_PROGRESS) is OnRefusal.CLOSE_FOR_STATE
    for reason in (Reason.SEQ_GAP, Reason.NO_EXIT_REQUESTED, Reason.BAD_FIELD, Reason.TIME_UP):
        assert on_refusal(reason) is OnRefusal.REFUSE


def test_a_socket_whose_interview_left_in_progress_closes_by_its_state() -> None:
    """ended gives 4003; an exit gives 4000 when its message can be read (never a 1000 a client would rejoin after), else 1000 with not_in_progress; any other state 1000."""
    assert close_for_state("ended", exited_known=False) is CloseCode.ENDED
    assert close_for_state("exited", exited_known=True) is CloseCode.EXITED
    assert close_for_state("exited", exited_known=False) is CloseCode.NORMAL
    assert close_for_state("completed", exited_known=False) is CloseCode.NORMAL
    assert close_for_state("expired", exited_known=True) is CloseCode.NORMAL
