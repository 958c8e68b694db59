"""The interview state machine: the transition table and every rule, with ``now`` passed in."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest

from protocol.interview import (
    TRANSITIONS,
    Decision,
    Event,
    IllegalTransition,
    JoinMode,
    Snapshot,
    State,
    _move,
    cancel_exit,
    confirm_exit,
    disconnect,
    end,
    finish_answer,
    grant_reentry,
    identity_refusal,
    join,
    next_deadline,
    renew_link,
    request_exit,
    reset,
    revoke_reentry,
    settle,
    settled,
    time_up,
)
from protocol.reasons import Reason

T0 = 1_767_225_600_000  # when the candidate first joins (ms since the epoch)
LINK = T0 + 86_400_000  # the link expires a day later
GRACE = 60_000
WINDOW = 3_600_000
LIMITS = (60, 45, 0)  # q0: 60 s, q1: 45 s, q2: no limit


def invited(**changes: Any) -> Snapshot:
    """A fresh interview: three questions, second entry allowed once."""
    base = Snapshot(
        state=State.INVITED,
        version=7,
        time_limits_s=LIMITS,
        link_expires_ms=LINK,
        second_entry=True,
        reentry_window_ms=WINDOW,
        resume_grace_ms=GRACE,
    )
    return replace(base, **changes)


def started(now: int = T0, session: str = "s1", **changes: Any) -> Snapshot:
    """An interview the candidate has just started on ``session``."""
    d = join(invited(**changes), now, session, identity_ok=True)
    assert d.refusal is None and d.snapshot.state is State.IN_PROGRESS
    return d.snapshot


def at_question(q: int, now: int = T0, **changes: Any) -> Snapshot:
    """In progress on s1 with questions before ``q`` answered; ``q`` opened at ``now``."""
    snap = started(now, **changes)
    for i in range(q):
        snap = finish_answer(snap, now, "s1", i, 1, 1).snapshot
    assert snap.current_q == q
    return snap


def exited(now: int = T0 + 10_000, q: int = 0, **changes: Any) -> Snapshot:
    """Exited by the candidate at ``now`` while on question ``q``."""
    snap = request_exit(at_question(q, **changes), now, "s1").snapshot
    d = confirm_exit(snap, now, "s1", stored_seq=2)
    assert d.snapshot.state is State.EXITED
    return d.snapshot


def completed() -> Snapshot:
    snap = at_question(2)
    return finish_answer(snap, T0 + 1, "s1", 2, 0, 0).snapshot


def ended() -> Snapshot:
    return end(started(), T0 + 1, "hr").snapshot


def expired_link() -> Snapshot:
    return settle(invited(), LINK).snapshot


def expired_window() -> Snapshot:
    snap = exited(now=T0 + 10)
    return settle(snap, snap.reentry_until_ms).snapshot


def exited_again(**changes: Any) -> Snapshot:
    """Exited a second time (at T0 + 30 s) after re-entering at T0 + 20 s."""
    snap = join(exited(now=T0 + 10_000, **changes), T0 + 20_000, "s3", identity_ok=True).snapshot
    snap = request_exit(snap, T0 + 30_000, "s3").snapshot
    snap = confirm_exit(snap, T0 + 30_000, "s3", stored_seq=0).snapshot
    assert snap.state is State.EXITED and snap.reentries_used == 1
    return snap


def assert_refused(d: Decision, before: Snapshot, reason: Reason) -> None:
    assert d.refusal == reason
    assert type(d.refusal) is str
    assert d.snapshot == before
    assert d.facts == ()
    assert not d.changed
    assert d.mode is None


def assert_unchanged(d: Decision, before: Snapshot) -> None:
    assert d.refusal is None
    assert d.snapshot == before
    assert d.facts == ()
    assert not d.changed


# --- the table -------------------------------------------------------------------------

EXPECTED_TABLE = {
    (State.INVITED, Event.START): State.IN_PROGRESS,
    (State.INVITED, Event.END): State.ENDED,
    (State.INVITED, Event.EXPIRE): State.EXPIRED,
    (State.IN_PROGRESS, Event.RESUME): State.IN_PROGRESS,
    (State.IN_PROGRESS, Event.DISCONNECT): State.IN_PROGRESS,
    (State.IN_PROGRESS, Event.FINISH_ANSWER): State.IN_PROGRESS,
    (State.IN_PROGRESS, Event.COMPLETE): State.COMPLETED,
    (State.IN_PROGRESS, Event.EXIT): State.EXITED,
    (State.IN_PROGRESS, Event.END): State.ENDED,
    (State.IN_PROGRESS, Event.EXPIRE): State.EXPIRED,
    (State.EXITED, Event.REENTER): State.IN_PROGRESS,
    (State.EXITED, Event.END): State.ENDED,
    (State.EXITED, Event.EXPIRE): State.EXPIRED,
    (State.EXITED, Event.RESET): State.INVITED,
    (State.EXITED, Event.GRANT_REENTRY): State.EXITED,
    (State.COMPLETED, Event.RESET): State.INVITED,
    (State.ENDED, Event.RESET): State.INVITED,
    (State.EXPIRED, Event.RESET): State.INVITED,
    (State.EXPIRED, Event.GRANT_REENTRY): State.EXITED,
}


def test_table_is_the_design_diagram() -> None:
    """TRANSITIONS holds exactly these arrows: DESIGN.md's diagram and an interrupted interview expiring with its link."""
    flat = {(s, e): t for s, row in TRANSITIONS.items() for e, t in row.items()}
    assert flat == EXPECTED_TABLE
    assert set(TRANSITIONS) == set(State)


@pytest.mark.parametrize(("state", "event"), list(itertools.product(State, Event)))
def test_move_follows_the_table(state: State, event: Event) -> None:
    """_move goes to the listed target with version + 1, or raises IllegalTransition."""
    snap = invited(state=state)
    target = EXPECTED_TABLE.get((state, event))
    if target is None:
        with pytest.raises(IllegalTransition, match=str(event)):
            _move(snap, event)
    else:
        new = _move(snap, event, session="x")
        assert new.state is target
        assert new.version == snap.version + 1
        assert new.session == "x"


def test_reset_is_the_only_way_out_of_final_states() -> None:
    """Completed and ended accept nothing but a reset; expired also an HR re-entry grant."""
    for state in (State.COMPLETED, State.ENDED):
        assert set(TRANSITIONS[state]) == {Event.RESET}
    assert set(TRANSITIONS[State.EXPIRED]) == {Event.RESET, Event.GRANT_REENTRY}


def test_snapshot_derived_fields() -> None:
    """total, progress and may_reenter derive from the snapshot's fields."""
    snap = invited(answered=1, partial=1)
    assert snap.total == 3
    assert snap.progress.to_wire() == {"answered": 1, "partial": 1, "total": 3, "percent": 33}
    assert snap.may_reenter
    assert not replace(snap, second_entry=False).may_reenter
    assert not replace(snap, reentries_used=1).may_reenter
    assert replace(snap, reentries_used=1, max_reentries=2).may_reenter


def test_decision_changed_means_facts() -> None:
    """Decision.changed is true exactly when there are facts to record."""
    snap = invited()
    assert not Decision(snap).changed
    assert Decision(snap, ({"kind": "x"},)).changed


# --- join ------------------------------------------------------------------------------


def test_join_locked_out_is_refused_first() -> None:
    """A locked-out candidate gets too_many_attempts, even with a matching identity."""
    snap = invited()
    assert_refused(
        join(snap, T0, "s", identity_ok=True, locked_out=True), snap, Reason.TOO_MANY_ATTEMPTS
    )
    assert_refused(
        join(snap, T0, "s", identity_ok=False, locked_out=True), snap, Reason.TOO_MANY_ATTEMPTS
    )


def test_join_identity_mismatch_is_refused() -> None:
    """A wrong identity proof gets identity_mismatch and changes nothing."""
    snap = started()
    assert_refused(join(snap, T0 + 1, "s2", identity_ok=False), snap, Reason.IDENTITY_MISMATCH)


def test_join_identity_is_checked_before_the_link_expiry() -> None:
    """An expired link with a wrong identity says identity_mismatch (and settles nothing)."""
    snap = invited()
    assert_refused(join(snap, LINK + 1, "s", identity_ok=False), snap, Reason.IDENTITY_MISMATCH)


def test_join_starts_an_invited_interview() -> None:
    """The first join starts: question 0 opens now with its deadline, the session holds it."""
    snap = invited()
    d = join(snap, T0, "s1", identity_ok=True)
    new = d.snapshot
    assert d.refusal is None
    assert d.mode is JoinMode.START
    assert d.taken_over == ""
    assert new.state is State.IN_PROGRESS
    assert new.version == snap.version + 1
    assert new.session == "s1"
    assert new.started_ms == T0
    assert (new.current_q, new.question_started_ms, new.question_deadline_ms) == (
        0,
        T0,
        T0 + 60_000,
    )
    assert d.facts == ({"kind": "joined", "mode": "start"}, {"kind": "question_started", "q": 0})


def test_join_start_without_time_limit_has_no_deadline() -> None:
    """A first question without a time limit opens with deadline 0."""
    new = started(time_limits_s=(0, 30))
    assert (new.question_started_ms, new.question_deadline_ms) == (T0, 0)


def test_join_just_before_link_expiry_starts() -> None:
    """The link is still good one millisecond before it expires."""
    d = join(invited(), LINK - 1, "s1", identity_ok=True)
    assert d.mode is JoinMode.START


def test_join_resume_takes_over_from_a_live_session() -> None:
    """A join while another socket holds the interview resumes and names the session it took."""
    snap = request_exit(started(), T0 + 500, "s1").snapshot
    d = join(snap, T0 + 1000, "s2", identity_ok=True)
    new = d.snapshot
    assert d.mode is JoinMode.RESUME
    assert d.taken_over == "s1"
    assert new.state is State.IN_PROGRESS
    assert new.session == "s2"
    assert new.version == snap.version + 1
    assert not new.exit_requested
    assert (new.current_q, new.question_started_ms, new.question_deadline_ms) == (
        0,
        T0,
        T0 + 60_000,
    )
    assert d.facts == ({"kind": "joined", "mode": "resume", "took_over": True},)


def test_join_resume_after_disconnect_within_grace() -> None:
    """A join inside the resume grace resumes where it was, taking nothing over."""
    snap = disconnect(started(time_limits_s=(0, 45, 0)), T0 + 1000, "s1").snapshot
    d = join(snap, T0 + 1000 + GRACE - 1, "s2", identity_ok=True)
    assert d.mode is JoinMode.RESUME
    assert d.taken_over == ""
    assert d.snapshot.disconnected_ms == 0
    assert d.snapshot.session == "s2"
    assert d.snapshot.version == snap.version + 1
    assert d.facts == ({"kind": "joined", "mode": "resume", "took_over": False},)


def test_join_resume_after_question_deadline_times_it_out() -> None:
    """A question whose time ran out while disconnected is timed_out and the next opens now."""
    snap = disconnect(started(), T0 + 10_000, "s1").snapshot
    now = T0 + 61_000  # past q0's 60 s, inside the grace
    d = join(snap, now, "s2", identity_ok=True)
    new = d.snapshot
    assert d.mode is JoinMode.RESUME
    assert d.taken_over == ""
    assert new.state is State.IN_PROGRESS
    assert new.version == snap.version + 2  # resume, then finish_answer
    assert (new.answered, new.partial, new.current_q) == (1, 0, 1)
    assert (new.question_started_ms, new.question_deadline_ms) == (now, now + 45_000)
    assert d.facts == (
        {"kind": "joined", "mode": "resume", "took_over": False},
        {
            "kind": "answer_closed",
            "q": 0,
            "status": "timed_out",
            "started_ms": T0,
            "ended_ms": now,
            "last_seq": -1,
        },
        {"kind": "question_started", "q": 1},
    )


def test_join_resume_at_exactly_the_deadline_times_out() -> None:
    """The deadline itself counts as time up."""
    snap = disconnect(started(), T0 + 1, "s1").snapshot
    assert join(snap, T0 + 60_000, "s2", identity_ok=True).snapshot.current_q == 1
    assert join(snap, T0 + 59_999, "s2", identity_ok=True).snapshot.current_q == 0


def test_a_session_joining_again_takes_nothing_over() -> None:
    """The same session joining the interview it holds (a resent join) is a resume that takes over nobody."""
    d = join(started(), T0 + 5, "s1", identity_ok=True)
    assert d.taken_over == "" and d.mode is JoinMode.RESUME
    assert d.facts[0] == {"kind": "joined", "mode": "resume", "took_over": False}


def test_join_resume_with_a_live_session_after_deadline_keeps_taken_over() -> None:
    """Taking over after the deadline closes the question and still names the old session."""
    d = join(started(), T0 + 70_000, "s2", identity_ok=True)
    assert d.taken_over == "s1"
    assert d.mode is JoinMode.RESUME
    assert d.snapshot.current_q == 1
    assert d.facts[0] == {"kind": "joined", "mode": "resume", "took_over": True}


def test_join_resume_after_last_deadline_completes() -> None:
    """If the last question's time ran out while disconnected, the resume completes it."""
    snap = at_question(2, time_limits_s=(0, 0, 30), resume_grace_ms=600_000)
    snap = disconnect(snap, T0 + 1000, "s1").snapshot
    d = join(snap, T0 + 31_000, "s2", identity_ok=True)
    new = d.snapshot
    assert d.mode is JoinMode.RESUME
    assert new.state is State.COMPLETED
    assert new.session == ""
    assert new.version == snap.version + 2
    assert (new.answered, new.current_q, new.question_deadline_ms) == (3, 3, 0)
    assert d.facts[-1] == {
        "kind": "completed",
        "progress": {"answered": 3, "partial": 0, "total": 3, "percent": 100},
    }
    assert d.facts[1]["status"] == "timed_out"


@pytest.mark.parametrize("away", [GRACE + 5, LINK - T0 - 1001], ids=["past_grace", "until_link"])
def test_join_long_after_a_disconnect_resumes_at_the_same_question(away: int) -> None:
    """A drop is not an exit, however long: until the link expires a join resumes the same question, spending no re-entry."""
    snap = disconnect(started(time_limits_s=(0, 45, 0)), T0 + 1000, "s1").snapshot
    d = join(snap, T0 + 1000 + away, "s2", identity_ok=True)
    new = d.snapshot
    assert d.refusal is None
    assert d.mode is JoinMode.RESUME
    assert new == replace(snap, version=snap.version + 1, session="s2", disconnected_ms=0)
    assert (new.current_q, new.question_started_ms, new.partial, new.reentries_used) == (
        0,
        T0,
        0,
        0,
    )
    assert d.facts == ({"kind": "joined", "mode": "resume", "took_over": False},)


def test_join_reenters_after_exit() -> None:
    """A join after an exit, with second entry allowed and inside the window, re-enters."""
    snap = exited(now=T0 + 10_000)
    now = T0 + 20_000
    d = join(snap, now, "s3", identity_ok=True)
    new = d.snapshot
    assert d.refusal is None
    assert d.mode is JoinMode.REENTER
    assert d.taken_over == ""
    assert new.state is State.IN_PROGRESS
    assert new.version == snap.version + 1
    assert new.session == "s3"
    assert new.reentries_used == 1
    assert new.reentry_until_ms == 0
    assert new.disconnected_ms == 0
    # q0 was kept as partial; the re-entry opens q1 with a fresh time limit
    assert (new.current_q, new.question_started_ms, new.question_deadline_ms) == (
        1,
        now,
        now + 45_000,
    )
    assert (new.answered, new.partial) == (0, 1)
    assert d.facts == ({"kind": "joined", "mode": "reenter"},)


def test_join_reenter_at_last_moment_of_window() -> None:
    """One millisecond before the window closes the candidate may still re-enter."""
    snap = exited(now=T0 + 10_000)
    d = join(snap, snap.reentry_until_ms - 1, "s3", identity_ok=True)
    assert d.mode is JoinMode.REENTER


def test_join_reenter_not_permitted_without_second_entry() -> None:
    """Without second entry, a join after an exit gets reentry_not_permitted."""
    snap = exited(second_entry=False)
    assert snap.reentry_until_ms == 0
    assert_refused(
        join(snap, T0 + 20_000, "s3", identity_ok=True), snap, Reason.REENTRY_NOT_PERMITTED
    )


def test_join_reenter_window_over() -> None:
    """A join after the re-entry window gets reentry_window_over and the interview is expired."""
    snap = exited(now=T0 + 10_000)
    d = join(snap, T0 + 10_000 + WINDOW, "s3", identity_ok=True)
    assert d.refusal == Reason.REENTRY_WINDOW_OVER
    assert d.snapshot.state is State.EXPIRED
    assert d.mode is None


def test_join_reentries_used_up() -> None:
    """After the one allowed re-entry, a second exit leaves no way back: reentry_not_permitted."""
    snap = join(exited(now=T0 + 10_000), T0 + 20_000, "s3", identity_ok=True).snapshot
    snap = request_exit(snap, T0 + 30_000, "s3").snapshot
    snap = confirm_exit(snap, T0 + 30_000, "s3", stored_seq=0).snapshot
    assert snap.state is State.EXITED
    assert snap.reentry_until_ms == 0
    assert_refused(
        join(snap, T0 + 40_000, "s4", identity_ok=True), snap, Reason.REENTRY_NOT_PERMITTED
    )


def test_join_second_reentry_when_policy_allows_two() -> None:
    """With max_reentries=2 a second exit keeps a window and a second re-entry works."""
    snap = join(
        exited(now=T0 + 10_000, max_reentries=2), T0 + 20_000, "s3", identity_ok=True
    ).snapshot
    snap = request_exit(snap, T0 + 30_000, "s3").snapshot
    snap = confirm_exit(snap, T0 + 30_000, "s3", stored_seq=0).snapshot
    assert snap.reentry_until_ms == T0 + 30_000 + WINDOW
    d = join(snap, T0 + 40_000, "s4", identity_ok=True)
    assert d.mode is JoinMode.REENTER
    assert d.snapshot.reentries_used == 2


def test_join_reenter_after_exit_on_last_question_completes() -> None:
    """If the exit interrupted the last question, re-entering completes the interview."""
    snap = exited(now=T0 + 10_000, q=2)
    assert snap.current_q == snap.total
    d = join(snap, T0 + 20_000, "s3", identity_ok=True)
    new = d.snapshot
    assert d.mode is JoinMode.REENTER
    assert new.state is State.COMPLETED
    assert new.session == ""
    assert new.reentries_used == 1
    assert new.version == snap.version + 2  # re-enter, complete
    assert d.facts == (
        {"kind": "joined", "mode": "reenter"},
        {"kind": "completed", "progress": {"answered": 2, "partial": 1, "total": 3, "percent": 66}},
    )


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (completed, Reason.ALREADY_COMPLETED),
        (ended, Reason.INTERVIEW_ENDED),
        (expired_link, Reason.LINK_EXPIRED),
        (expired_window, Reason.REENTRY_WINDOW_OVER),
    ],
    ids=["completed", "ended", "expired_link", "expired_window"],
)
def test_join_refused_in_final_states(make: Any, reason: Reason) -> None:
    """Completed, ended and expired interviews refuse a join with the matching reason."""
    snap = make()
    assert_refused(join(snap, T0 + 100_000_000, "s9", identity_ok=True), snap, reason)


def test_join_on_expired_link() -> None:
    """A first join at or after the link's expiry gets link_expired and the interview expires."""
    d = join(invited(), LINK, "s1", identity_ok=True)
    assert d.refusal == Reason.LINK_EXPIRED
    assert d.snapshot.state is State.EXPIRED


@pytest.mark.parametrize(
    ("make", "now"),
    [
        (invited, LINK),
        (lambda: exited(now=T0), T0 + WINDOW),
        (lambda: disconnect(started(second_entry=False), T0, "s1").snapshot, LINK),
    ],
    ids=["link_expired", "reentry_window_over", "link_expired_while_away"],
)
def test_join_refusal_after_settle_keeps_its_facts(make: Any, now: int) -> None:
    """A join refused after settle changed the interview still carries settle's facts."""
    snap = make()
    settled = settle(snap, now)
    assert settled.changed
    d = join(snap, now, "s9", identity_ok=True)
    assert d.refusal is not None
    assert d.snapshot == settled.snapshot
    assert d.facts == settled.facts


# --- settle ----------------------------------------------------------------------------


def test_settle_expires_the_link() -> None:
    """An invited interview expires when now reaches link_expires_ms, not a moment before."""
    snap = invited()
    assert_unchanged(settle(snap, LINK - 1), snap)
    d = settle(snap, LINK)
    assert d.snapshot.state is State.EXPIRED
    assert d.snapshot.version == snap.version + 1
    assert d.facts == ({"kind": "expired", "why": "link"},)
    assert d.refusal is None


def test_settle_never_exits_a_dropped_interview() -> None:
    """A disconnect past the resume grace changes nothing: no exit, no closed question, until the link expires."""
    snap = disconnect(started(time_limits_s=(0, 45, 0)), T0 + 1000, "s1").snapshot
    assert_unchanged(settle(snap, T0 + 1000 + GRACE + 12_345), snap)
    assert_unchanged(settle(snap, LINK - 1), snap)


def test_settle_expires_an_interrupted_interview_with_its_link() -> None:
    """Interrupted when the link expires: the open question is kept as partial and the interview expires, no exit, no re-entry spent."""
    snap = disconnect(started(time_limits_s=(0, 45, 0)), T0 + 1000, "s1").snapshot
    d = settle(snap, LINK + 12_345)
    new = d.snapshot
    assert new.state is State.EXPIRED
    assert new.expired_why == "interrupted"
    assert new.version == snap.version + 1
    assert (new.exited_ms, new.reentries_used, new.reentry_until_ms) == (0, 0, 0)
    assert (new.answered, new.partial, new.current_q) == (0, 1, 1)
    assert (new.question_started_ms, new.question_deadline_ms) == (0, 0)
    assert d.facts == (
        {
            "kind": "answer_closed",
            "q": 0,
            "status": "partial",
            "started_ms": T0,
            "ended_ms": LINK,
            "last_seq": -1,
        },
        {"kind": "expired", "why": "interrupted"},
    )


def test_settle_interrupted_expiry_after_the_deadline_is_a_time_out() -> None:
    """If the open question's time ran out before the link did, it closes timed_out at its deadline."""
    snap = disconnect(started(), T0 + 1000, "s1").snapshot  # q0 has 60 s
    d = settle(snap, LINK)
    new = d.snapshot
    assert new.state is State.EXPIRED
    assert (new.answered, new.partial, new.current_q) == (1, 0, 1)
    closed, expired = d.facts
    assert (closed["status"], closed["ended_ms"]) == ("timed_out", T0 + 60_000)
    assert expired == {"kind": "expired", "why": "interrupted"}


def test_settle_a_drop_after_the_link_expiry_still_gets_the_grace() -> None:
    """A candidate still answering when the link expires who then drops may resume for the resume grace."""
    snap = disconnect(started(time_limits_s=(0, 0, 0)), LINK + 10, "s1").snapshot
    assert_unchanged(settle(snap, LINK + 10 + GRACE - 1), snap)
    assert join(snap, LINK + 10 + GRACE - 1, "s2", identity_ok=True).mode is JoinMode.RESUME
    d = settle(snap, LINK + 10 + GRACE + 500)
    assert d.snapshot.state is State.EXPIRED
    assert d.facts[0]["ended_ms"] == LINK + 10 + GRACE  # dated when it ran out


def test_settle_interrupted_expiry_without_an_open_question_closes_nothing() -> None:
    """An interrupted interview with no question open (none left) expires without closing one."""
    snap = disconnect(started(), T0 + 1000, "s1").snapshot
    snap = replace(snap, current_q=snap.total, question_started_ms=0, question_deadline_ms=0)
    d = settle(snap, LINK)
    assert d.snapshot.state is State.EXPIRED and d.snapshot.current_q == snap.total
    assert d.facts == ({"kind": "expired", "why": "interrupted"},)


def test_join_after_an_interrupted_expiry_says_why() -> None:
    """A join after the link expired on an interrupted interview gets link_expired_while_away, not a re-entry refusal."""
    snap = settle(disconnect(started(), T0 + 1000, "s1").snapshot, LINK).snapshot
    assert_refused(
        join(snap, LINK + 5, "s2", identity_ok=True), snap, Reason.LINK_EXPIRED_WHILE_AWAY
    )


def test_grant_after_an_interrupted_expiry_lets_the_candidate_continue() -> None:
    """HR's grant after an interrupted expiry opens a window; the candidate continues at the next question."""
    snap = settle(disconnect(started(), T0 + 1000, "s1").snapshot, LINK).snapshot
    granted = grant_reentry(snap, LINK + 5, "hr-1", NEW_WINDOW).snapshot
    assert granted.state is State.EXITED and granted.expired_why == ""
    d = join(granted, LINK + 10, "s2", identity_ok=True)
    assert d.mode is JoinMode.REENTER
    assert d.snapshot.current_q == 1
    expired_again = settle(granted, LINK + 5 + NEW_WINDOW).snapshot
    assert join(expired_again, LINK + 5 + NEW_WINDOW, "s2", identity_ok=True).refusal == (
        Reason.REENTRY_WINDOW_OVER
    )


def test_finish_after_the_deadline_is_a_time_out() -> None:
    """A finish that arrives after the deadline, before the hub's timer fired, closes the answer as timed_out."""
    snap = started()
    d = finish_answer(snap, T0 + 60_000, "s1", 0, 2, 2)
    assert d.facts[0]["status"] == "timed_out"
    assert d.snapshot.answered == 1


def test_settle_never_exits_a_connected_candidate() -> None:
    """A connected session is never exited or expired by settle, whatever the time."""
    snap = started()
    assert_unchanged(settle(snap, T0 + 1000 * GRACE), snap)
    assert_unchanged(settle(snap, LINK + 10**9), snap)


def test_settle_leaves_question_deadlines_to_time_up() -> None:
    """settle does not close a question whose time ran out: that is time_up's or join's job."""
    snap = started()
    assert_unchanged(settle(snap, T0 + 120_000), snap)


def test_settle_reentry_window_over() -> None:
    """An exited interview expires when now reaches reentry_until_ms."""
    snap = exited(now=T0)
    until = snap.reentry_until_ms
    assert until == T0 + WINDOW
    assert_unchanged(settle(snap, until - 1), snap)
    d = settle(snap, until)
    assert d.snapshot.state is State.EXPIRED
    assert d.snapshot.reentry_until_ms == 0
    assert d.snapshot.version == snap.version + 1
    assert d.facts == ({"kind": "expired", "why": "reentry_window"},)


def test_settle_exited_without_window_never_expires() -> None:
    """An exit with no re-entry allowed has no window to run out."""
    snap = exited(second_entry=False)
    assert_unchanged(settle(snap, T0 + 100 * WINDOW), snap)


@pytest.mark.parametrize("make", [completed, ended, expired_link, expired_window])
def test_settle_leaves_final_states_alone(make: Any) -> None:
    """Completed, ended and expired interviews have no timeouts."""
    snap = make()
    assert_unchanged(settle(snap, T0 + 10**12), snap)


# --- finish_answer ---------------------------------------------------------------------


def test_finish_answer_advances_to_next_question() -> None:
    """Finishing the current answer closes it as answered and opens the next question now."""
    snap = request_exit(started(), T0 + 100, "s1").snapshot
    now = T0 + 5000
    d = finish_answer(snap, now, "s1", q=0, last_seq=3, stored_seq=3)
    new = d.snapshot
    assert d.refusal is None
    assert new.state is State.IN_PROGRESS
    assert new.version == snap.version + 1
    assert (new.answered, new.partial, new.current_q) == (1, 0, 1)
    assert (new.question_started_ms, new.question_deadline_ms) == (now, now + 45_000)
    assert not new.exit_requested
    assert new.session == "s1"
    assert d.facts == (
        {
            "kind": "answer_closed",
            "q": 0,
            "status": "answered",
            "started_ms": T0,
            "ended_ms": now,
            "last_seq": 3,
        },
        {"kind": "question_started", "q": 1},
    )


def test_finish_answer_records_what_is_stored() -> None:
    """The closed answer's last_seq is what Redis has, even beyond what the client claimed."""
    d = finish_answer(started(), T0 + 1, "s1", q=0, last_seq=2, stored_seq=5)
    assert d.facts[0]["last_seq"] == 5


def test_finish_answer_empty_answer() -> None:
    """last_seq 0 with nothing stored is an (empty) answer."""
    d = finish_answer(started(), T0 + 1, "s1", q=0, last_seq=0, stored_seq=0)
    assert d.snapshot.answered == 1


def test_finish_answer_on_last_question_completes() -> None:
    """Finishing the last answer completes the interview and releases the session."""
    snap = at_question(2)
    d = finish_answer(snap, T0 + 9, "s1", q=2, last_seq=4, stored_seq=4)
    new = d.snapshot
    assert new.state is State.COMPLETED
    assert new.version == snap.version + 1
    assert new.session == ""
    assert (new.answered, new.current_q, new.question_started_ms, new.question_deadline_ms) == (
        3,
        3,
        0,
        0,
    )
    assert d.facts[0]["status"] == "answered"
    assert d.facts[1] == {
        "kind": "completed",
        "progress": {"answered": 3, "partial": 0, "total": 3, "percent": 100},
    }


def test_finish_answer_not_current_question() -> None:
    """Finishing a question that is not the open one is refused."""
    snap = at_question(1)
    for q in (0, 2, -1):
        assert_refused(finish_answer(snap, T0, "s1", q, 1, 1), snap, Reason.NOT_CURRENT_QUESTION)


def test_finish_answer_incomplete() -> None:
    """Finishing before every chunk up to last_seq is stored is answer_incomplete."""
    snap = started()
    assert_refused(finish_answer(snap, T0, "s1", 0, 5, 4), snap, Reason.ANSWER_INCOMPLETE)


def test_finish_answer_from_another_session_is_taken_over() -> None:
    """A session that lost the interview to another join is told taken_over."""
    snap = join(started(), T0 + 1, "s2", identity_ok=True).snapshot
    assert_refused(finish_answer(snap, T0 + 2, "s1", 0, 1, 1), snap, Reason.TAKEN_OVER)


def test_a_released_session_is_interrupted_not_taken_over() -> None:
    """A session whose hold was released with nobody else joined is told connection_interrupted (retry), never taken_over."""
    gone = disconnect(started(), T0 + 1, "s1").snapshot
    assert_refused(finish_answer(gone, T0 + 2, "s1", 0, 1, 1), gone, Reason.CONNECTION_INTERRUPTED)
    assert_refused(request_exit(gone, T0 + 2, "s1"), gone, Reason.CONNECTION_INTERRUPTED)
    assert_refused(confirm_exit(gone, T0 + 2, "s1", 0), gone, Reason.CONNECTION_INTERRUPTED)


@pytest.mark.parametrize("make", [invited, lambda: exited(), completed, expired_link])
def test_finish_answer_not_in_progress(make: Any) -> None:
    """Outside in_progress (and not ended), finish_answer is not_in_progress."""
    snap = make()
    assert_refused(
        finish_answer(snap, T0, "s1", snap.current_q, 0, 0), snap, Reason.NOT_IN_PROGRESS
    )


def test_finish_answer_after_end() -> None:
    """After HR ended the interview, finish_answer says interview_ended."""
    snap = ended()
    assert_refused(finish_answer(snap, T0 + 2, "s1", 0, 0, 0), snap, Reason.INTERVIEW_ENDED)


# --- time_up ---------------------------------------------------------------------------


def test_time_up_before_deadline_does_nothing() -> None:
    """A timer that fires early changes nothing."""
    snap = started()
    assert_unchanged(time_up(snap, T0 + 59_999, 0, 3), snap)


def test_time_up_at_deadline_times_out_the_question() -> None:
    """At the deadline the question closes as timed_out (counted answered) with the stored seq."""
    snap = started()
    now = T0 + 60_000
    d = time_up(snap, now, 0, stored_seq=3)
    new = d.snapshot
    assert new.version == snap.version + 1
    assert (new.answered, new.partial, new.current_q) == (1, 0, 1)
    assert new.question_deadline_ms == now + 45_000
    assert d.facts[0] == {
        "kind": "answer_closed",
        "q": 0,
        "status": "timed_out",
        "started_ms": T0,
        "ended_ms": now,
        "last_seq": 3,
    }
    assert d.facts[1] == {"kind": "question_started", "q": 1}


def test_time_up_for_another_question_does_nothing() -> None:
    """A stale timer for a question already closed changes nothing."""
    snap = at_question(1)
    assert_unchanged(time_up(snap, T0 + 10**9, 0, 3), snap)


def test_time_up_without_limit_does_nothing() -> None:
    """A question without a time limit never times out."""
    snap = at_question(2)
    assert snap.question_deadline_ms == 0
    assert_unchanged(time_up(snap, T0 + 10**9, 2, 3), snap)


@pytest.mark.parametrize("make", [invited, lambda: exited(), ended, completed])
def test_time_up_outside_in_progress_does_nothing(make: Any) -> None:
    """A timer firing after an exit, end or completion changes nothing."""
    snap = make()
    assert_unchanged(time_up(snap, T0 + 10**9, snap.current_q, 0), snap)


def test_time_up_on_last_question_completes() -> None:
    """Time up on the last question completes the interview."""
    snap = at_question(2, time_limits_s=(0, 0, 30))
    d = time_up(snap, T0 + 30_000, 2, 0)
    assert d.snapshot.state is State.COMPLETED
    assert d.facts[-1]["kind"] == "completed"


# --- exit: request, cancel, confirm ----------------------------------------------------


def test_request_exit_marks_request_and_reports_progress() -> None:
    """request_exit sets exit_requested, bumps the version and reports the progress."""
    snap = at_question(1)
    d = request_exit(snap, T0 + 1, "s1")
    new = d.snapshot
    assert d.refusal is None
    assert new.exit_requested
    assert new.state is State.IN_PROGRESS
    assert new.version == snap.version + 1
    assert replace(new, exit_requested=False, version=snap.version) == snap
    assert d.facts == (
        {
            "kind": "exit_requested",
            "progress": {"answered": 1, "partial": 0, "total": 3, "percent": 33},
        },
    )


def test_request_exit_over_http_fallback() -> None:
    """session None (the HTTP fallback) may request an exit, even while disconnected."""
    snap = disconnect(started(), T0 + 1, "s1").snapshot
    assert request_exit(snap, T0 + 2, None).snapshot.exit_requested


@pytest.mark.parametrize("func", [request_exit, cancel_exit])
def test_exit_steps_refused_when_not_live(func: Any) -> None:
    """Request and cancel refuse: taken_over, not_in_progress, interview_ended."""
    live = join(started(), T0 + 1, "s2", identity_ok=True).snapshot
    assert_refused(func(live, T0 + 2, "s1"), live, Reason.TAKEN_OVER)
    snap = exited()
    assert_refused(func(snap, T0 + 10**6, "s1"), snap, Reason.NOT_IN_PROGRESS)
    snap = ended()
    assert_refused(func(snap, T0 + 10**6, "s1"), snap, Reason.INTERVIEW_ENDED)


def test_cancel_exit_clears_request() -> None:
    """cancel_exit after a request clears it and bumps the version."""
    snap = request_exit(started(), T0 + 1, "s1").snapshot
    d = cancel_exit(snap, T0 + 2, "s1")
    assert not d.snapshot.exit_requested
    assert d.snapshot.version == snap.version + 1
    assert d.facts == ({"kind": "exit_cancelled"},)


def test_cancel_exit_without_request_is_a_no_op() -> None:
    """cancel_exit with no request pending neither refuses nor changes anything."""
    snap = started()
    assert_unchanged(cancel_exit(snap, T0 + 1, "s1"), snap)


def test_confirm_exit_requires_a_request() -> None:
    """confirm_exit without a request first is no_exit_requested."""
    snap = started()
    assert_refused(confirm_exit(snap, T0 + 1, "s1", 0), snap, Reason.NO_EXIT_REQUESTED)
    cancelled = cancel_exit(request_exit(snap, T0 + 1, "s1").snapshot, T0 + 2, "s1").snapshot
    assert_refused(confirm_exit(cancelled, T0 + 3, "s1", 0), cancelled, Reason.NO_EXIT_REQUESTED)


def test_confirm_exit_keeps_partial_answer() -> None:
    """Confirming closes the open question as partial with the stored seq, then exits."""
    snap = request_exit(at_question(1), T0 + 1, "s1").snapshot
    now = T0 + 20_000
    d = confirm_exit(snap, now, "s1", stored_seq=6)
    new = d.snapshot
    assert d.refusal is None
    assert new.state is State.EXITED
    assert new.version == snap.version + 1
    assert new.session == ""
    assert not new.exit_requested
    assert new.exited_ms == now
    assert (new.answered, new.partial, new.current_q) == (1, 1, 2)
    assert (new.question_started_ms, new.question_deadline_ms) == (0, 0)
    assert new.reentry_until_ms == now + WINDOW
    assert d.facts == (
        {
            "kind": "answer_closed",
            "q": 1,
            "status": "partial",
            "started_ms": T0,
            "ended_ms": now,
            "last_seq": 6,
        },
        {
            "kind": "exited",
            "why": "candidate",
            "partial_q": 1,
            "progress": {"answered": 1, "partial": 1, "total": 3, "percent": 33},
            "reentry_until_ms": now + WINDOW,
        },
    )


def test_confirm_exit_progress_on_last_question() -> None:
    """Exiting on the last of three after two answers reports 2 answered, 1 partial, 66 %."""
    snap = request_exit(at_question(2), T0 + 1, "s1").snapshot
    d = confirm_exit(snap, T0 + 2, "s1", stored_seq=0)
    assert d.facts[-1]["partial_q"] == 2
    assert d.facts[-1]["progress"] == {"answered": 2, "partial": 1, "total": 3, "percent": 66}
    assert d.snapshot.current_q == 3


def test_confirm_exit_without_second_entry_has_no_window() -> None:
    """reentry_until_ms is 0 when second entry is not allowed."""
    snap = exited(second_entry=False)
    assert snap.reentry_until_ms == 0


def test_confirm_exit_over_http_fallback() -> None:
    """session None may confirm, even while the socket is gone."""
    snap = request_exit(started(), T0 + 1, "s1").snapshot
    d = confirm_exit(snap, T0 + 2, None, 0)
    assert d.snapshot.state is State.EXITED


def test_confirm_exit_refused_when_not_live() -> None:
    """confirm_exit refuses a stale session, an exited and an ended interview."""
    snap = request_exit(started(), T0 + 1, "s1").snapshot
    assert_refused(confirm_exit(snap, T0 + 2, "s2", 0), snap, Reason.TAKEN_OVER)
    snap = exited()
    assert_refused(confirm_exit(snap, T0 + 10**6, None, 0), snap, Reason.NOT_IN_PROGRESS)
    snap = ended()
    assert_refused(confirm_exit(snap, T0 + 10**6, None, 0), snap, Reason.INTERVIEW_ENDED)


def test_exit_when_no_question_is_open_has_no_partial() -> None:
    """An exit with no open question (none left) closes nothing and reports partial_q -1."""
    snap = replace(started(), current_q=3, exit_requested=True)
    d = confirm_exit(snap, T0 + 1, "s1", 0)
    assert [f["kind"] for f in d.facts] == ["exited"]
    assert d.facts[0]["partial_q"] == -1
    assert d.snapshot.partial == 0


# --- disconnect ------------------------------------------------------------------------


def test_disconnect_of_holding_session() -> None:
    """Losing the holding socket keeps the state, clears the session and says until when it can be resumed (the link's expiry)."""
    snap = request_exit(started(), T0 + 1, "s1").snapshot
    d = disconnect(snap, T0 + 500, "s1")
    new = d.snapshot
    assert new.state is State.IN_PROGRESS
    assert new.version == snap.version + 1
    assert new.session == ""
    assert new.disconnected_ms == T0 + 500
    assert not new.exit_requested
    assert d.facts == ({"kind": "disconnected", "resumable_until_ms": LINK},)


def test_disconnect_after_the_link_expiry_is_resumable_for_the_grace() -> None:
    """A drop after the link's expiry is resumable until the grace ends."""
    d = disconnect(started(), LINK + 500, "s1")
    assert d.facts == ({"kind": "disconnected", "resumable_until_ms": LINK + 500 + GRACE},)


def test_disconnect_of_other_session_is_ignored() -> None:
    """A socket that was taken over disconnecting changes nothing."""
    snap = join(started(), T0 + 1, "s2", identity_ok=True).snapshot
    assert_unchanged(disconnect(snap, T0 + 2, "s1"), snap)


@pytest.mark.parametrize("make", [lambda: exited(), ended, completed, invited])
def test_disconnect_outside_in_progress_is_ignored(make: Any) -> None:
    """A disconnect after an exit, end or completion changes nothing."""
    snap = make()
    assert_unchanged(disconnect(snap, T0 + 10**6, "s1"), snap)


# --- end -------------------------------------------------------------------------------


def test_end_from_invited() -> None:
    """HR may end an interview nobody has started."""
    snap = invited()
    d = end(snap, T0, "hr-1")
    assert d.snapshot.state is State.ENDED
    assert d.snapshot.version == snap.version + 1
    assert d.taken_over == ""
    assert d.facts == (
        {
            "kind": "ended",
            "by": "hr-1",
            "note": "",
            "progress": {"answered": 0, "partial": 0, "total": 3, "percent": 0},
        },
    )


def test_end_in_progress_closes_partial_answer_and_kicks_session() -> None:
    """Ending a live interview keeps the open answer as partial and names the session to close."""
    snap = request_exit(at_question(1), T0 + 1, "s1").snapshot
    now = T0 + 7000
    d = end(snap, now, "hr-1")
    new = d.snapshot
    assert new.state is State.ENDED
    assert new.version == snap.version + 1
    assert d.taken_over == "s1"
    assert new.session == ""
    assert not new.exit_requested
    assert new.question_deadline_ms == 0
    assert (new.answered, new.partial) == (1, 1)
    assert d.facts == (
        {
            "kind": "answer_closed",
            "q": 1,
            "status": "partial",
            "started_ms": T0,
            "ended_ms": now,
            "last_seq": -1,
        },
        {
            "kind": "ended",
            "by": "hr-1",
            "note": "",
            "progress": {"answered": 1, "partial": 1, "total": 3, "percent": 33},
        },
    )


def test_end_in_progress_while_disconnected() -> None:
    """Ending while nobody is connected has no session to close."""
    snap = disconnect(started(), T0 + 1, "s1").snapshot
    d = end(snap, T0 + 2, "hr")
    assert d.taken_over == ""
    assert d.snapshot.state is State.ENDED


def test_end_from_exited_closes_the_window() -> None:
    """Ending after an exit closes the re-entry window and closes no answer twice."""
    snap = exited()
    assert snap.reentry_until_ms
    d = end(snap, T0 + 10**6, "hr")
    assert d.snapshot.state is State.ENDED
    assert d.snapshot.reentry_until_ms == 0
    assert d.snapshot.partial == snap.partial
    assert [f["kind"] for f in d.facts] == ["ended"]


def test_end_refused_when_already_ended() -> None:
    """A second end is refused with interview_ended."""
    snap = ended()
    assert_refused(end(snap, T0 + 5, "hr-2"), snap, Reason.INTERVIEW_ENDED)


@pytest.mark.parametrize(
    "make", [completed, expired_link, expired_window], ids=["completed", "link", "window"]
)
def test_end_refused_when_over(make: Any) -> None:
    """A completed or expired interview cannot be ended: not_endable."""
    snap = make()
    assert_refused(end(snap, T0 + 10**9, "hr"), snap, Reason.NOT_ENDABLE)


# --- reset -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [lambda: exited(), ended, expired_link, expired_window, completed],
    ids=["exited", "ended", "expired_link", "expired_window", "completed"],
)
def test_reset_starts_a_fresh_attempt(make: Any) -> None:
    """Reset from exited/ended/expired/completed returns to invited with all progress cleared."""
    snap = make()
    new_link = T0 + 10**9
    d = reset(snap, T0 + 10**8, "hr-1", new_link)
    new = d.snapshot
    assert d.refusal is None
    assert d.facts == ({"kind": "reset", "by": "hr-1"},)
    fresh = invited(link_expires_ms=new_link, version=snap.version + 1)
    policy = {
        "second_entry": snap.second_entry,
        "max_reentries": snap.max_reentries,
    }
    assert new == replace(fresh, **policy)


@pytest.mark.parametrize("make", [invited, started])
def test_reset_refused_before_the_interview_is_over(make: Any) -> None:
    """Reset of an invited or in-progress interview is reset_not_allowed."""
    snap = make()
    assert_refused(reset(snap, T0, "hr", LINK + 1), snap, Reason.RESET_NOT_ALLOWED)


def test_join_after_reset_starts_again() -> None:
    """After a reset the candidate starts from the first question with re-entries restored."""
    snap = reset(completed(), T0 + 10, "hr", LINK + 10**6).snapshot
    d = join(snap, T0 + 20, "s5", identity_ok=True)
    assert d.mode is JoinMode.START
    assert d.snapshot.current_q == 0
    assert d.snapshot.may_reenter


# --- grant_reentry ---------------------------------------------------------------------

NEW_WINDOW = 600_000  # what HR grants: ten minutes


def test_grant_after_exit_opens_a_window_from_now() -> None:
    """A grant after an exit without second entry opens now + window and stays exited."""
    snap = exited(now=T0 + 10_000, second_entry=False)
    assert snap.reentry_until_ms == 0
    now = T0 + 50_000
    d = grant_reentry(snap, now, "hr-1", NEW_WINDOW)
    assert d.refusal is None
    assert d.snapshot == replace(
        snap,
        version=snap.version + 1,
        second_entry=True,
        reentry_window_ms=NEW_WINDOW,
        reentry_until_ms=now + NEW_WINDOW,
    )
    assert d.snapshot.state is State.EXITED
    assert d.facts == ({"kind": "reentry_granted", "by": "hr-1", "until_ms": now + NEW_WINDOW},)
    assert d.taken_over == "" and d.mode is None


def test_grant_replaces_an_open_window() -> None:
    """A grant while the policy window is still open replaces it with now + the new window."""
    snap = exited(now=T0 + 10_000)
    assert snap.reentry_until_ms == T0 + 10_000 + WINDOW
    d = grant_reentry(snap, T0 + 20_000, "hr", NEW_WINDOW)
    assert d.snapshot.reentry_until_ms == T0 + 20_000 + NEW_WINDOW
    assert d.snapshot.max_reentries == 1  # nothing used yet: no extra entry needed


def test_grant_after_the_second_entry_was_used_allows_one_more() -> None:
    """A candidate who used the re-entry and exited again may come back once more, not twice."""
    snap = exited_again()
    assert snap.reentry_until_ms == 0 and not snap.may_reenter
    now = T0 + 40_000
    granted = grant_reentry(snap, now, "hr", NEW_WINDOW).snapshot
    assert granted.max_reentries == 2
    assert granted.may_reenter
    assert granted.reentry_until_ms == now + NEW_WINDOW
    d = join(granted, now + 1, "s4", identity_ok=True)
    assert d.mode is JoinMode.REENTER
    assert d.snapshot.reentries_used == 2
    snap = request_exit(d.snapshot, now + 2, "s4").snapshot
    snap = confirm_exit(snap, now + 2, "s4", stored_seq=0).snapshot
    assert snap.reentry_until_ms == 0
    assert_refused(join(snap, now + 3, "s5", identity_ok=True), snap, Reason.REENTRY_NOT_PERMITTED)


def test_grant_never_lowers_max_reentries() -> None:
    """A policy that already allows more re-entries than used keeps its max_reentries."""
    snap = exited(max_reentries=3)
    assert grant_reentry(snap, T0 + 20_000, "hr", NEW_WINDOW).snapshot.max_reentries == 3


def test_grant_reopens_an_expired_window() -> None:
    """A grant after the re-entry window ran out moves expired back to exited with a new window."""
    snap = expired_window()
    assert snap.state is State.EXPIRED
    now = snap.exited_ms + 2 * WINDOW
    d = grant_reentry(snap, now, "hr-2", NEW_WINDOW)
    new = d.snapshot
    assert new.state is State.EXITED
    assert new.version == snap.version + 1
    assert new.second_entry
    assert new.reentry_until_ms == now + NEW_WINDOW
    assert new.reentry_window_ms == NEW_WINDOW
    assert (new.exited_ms, new.current_q, new.partial) == (snap.exited_ms, 1, 1)
    assert d.facts == ({"kind": "reentry_granted", "by": "hr-2", "until_ms": now + NEW_WINDOW},)
    joined = join(new, now + NEW_WINDOW - 1, "s4", identity_ok=True)
    assert joined.mode is JoinMode.REENTER
    assert joined.snapshot.current_q == 1


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (ended, Reason.INTERVIEW_ENDED),
        (completed, Reason.ALREADY_COMPLETED),
        (expired_link, Reason.LINK_EXPIRED),
    ],
    ids=["ended", "completed", "expired_link"],
)
def test_grant_refused_when_nothing_to_come_back_to(make: Any, reason: Reason) -> None:
    """Ended, completed and never-started expired interviews refuse a grant with their reason."""
    snap = make()
    assert_refused(grant_reentry(snap, T0 + 10**6, "hr", NEW_WINDOW), snap, reason)


@pytest.mark.parametrize(
    "make",
    [
        invited,
        started,
        lambda **kw: disconnect(started(**kw), T0 + 5, "s1").snapshot,
    ],
    ids=["invited", "connected", "disconnected"],
)
def test_grant_before_an_exit_changes_only_the_policy(make: Any) -> None:
    """Before an exit a grant sets second entry and the window, moves no state, opens nothing."""
    snap = make(second_entry=False)
    d = grant_reentry(snap, T0 + 100, "hr", NEW_WINDOW)
    assert d.refusal is None
    assert d.snapshot == replace(
        snap, version=snap.version + 1, second_entry=True, reentry_window_ms=NEW_WINDOW
    )
    assert d.snapshot.reentry_until_ms == 0
    assert d.facts == ({"kind": "reentry_granted", "by": "hr", "until_ms": 0},)
    assert d.taken_over == "" and d.mode is None


def test_grant_in_progress_applies_to_the_coming_exit() -> None:
    """A grant while in progress gives the next exit a window of the granted length from the exit."""
    snap = grant_reentry(started(second_entry=False), T0 + 100, "hr", NEW_WINDOW).snapshot
    snap = request_exit(snap, T0 + 5000, "s1").snapshot
    d = confirm_exit(snap, T0 + 5000, "s1", stored_seq=0)
    assert d.snapshot.reentry_until_ms == T0 + 5000 + NEW_WINDOW
    assert d.facts[-1]["reentry_until_ms"] == T0 + 5000 + NEW_WINDOW


def test_grant_after_reentry_in_progress_raises_max_reentries() -> None:
    """A grant during the second entry lets the candidate exit and come back once more."""
    snap = join(exited(now=T0 + 10_000), T0 + 20_000, "s3", identity_ok=True).snapshot
    assert snap.reentries_used == 1 and snap.state is State.IN_PROGRESS
    granted = grant_reentry(snap, T0 + 25_000, "hr", NEW_WINDOW).snapshot
    assert granted.state is State.IN_PROGRESS
    assert granted.max_reentries == 2
    snap = request_exit(granted, T0 + 30_000, "s3").snapshot
    snap = confirm_exit(snap, T0 + 30_000, "s3", stored_seq=0).snapshot
    assert snap.reentry_until_ms == T0 + 30_000 + NEW_WINDOW
    assert join(snap, T0 + 31_000, "s4", identity_ok=True).mode is JoinMode.REENTER


def test_join_after_grant_respects_the_granted_window() -> None:
    """After a grant a join re-enters until one millisecond before until; at until it is over."""
    snap = exited_again()
    now = T0 + 40_000
    granted = grant_reentry(snap, now, "hr", NEW_WINDOW).snapshot
    until = now + NEW_WINDOW
    assert next_deadline(granted) == until
    d = join(granted, until - 1, "s4", identity_ok=True)
    assert d.refusal is None
    assert d.mode is JoinMode.REENTER
    assert d.snapshot.reentry_until_ms == 0
    late = join(granted, until, "s4", identity_ok=True)
    assert late.refusal == Reason.REENTRY_WINDOW_OVER
    assert late.snapshot.state is State.EXPIRED
    assert late.facts == ({"kind": "expired", "why": "reentry_window"},)


def test_grant_can_be_repeated_after_the_granted_window_runs_out() -> None:
    """A granted window that ran out expires like the policy one, and HR may grant again."""
    granted = grant_reentry(exited_again(), T0 + 40_000, "hr", NEW_WINDOW).snapshot
    gone = settle(granted, T0 + 40_000 + NEW_WINDOW).snapshot
    assert gone.state is State.EXPIRED
    again = grant_reentry(gone, T0 + 10**7, "hr", NEW_WINDOW).snapshot
    assert again.state is State.EXITED
    assert again.max_reentries == 2  # still one more than used
    assert join(again, T0 + 10**7 + 1, "s4", identity_ok=True).mode is JoinMode.REENTER


# --- revoke_reentry --------------------------------------------------------------------


def test_revoke_after_exit_closes_the_window() -> None:
    """Revoking after an exit clears second entry and the window; state and rest stay."""
    snap = exited(now=T0 + 10_000)
    assert snap.reentry_until_ms
    d = revoke_reentry(snap, T0 + 20_000, "hr-1")
    assert d.refusal is None
    assert d.snapshot == replace(
        snap, version=snap.version + 1, second_entry=False, reentry_until_ms=0
    )
    assert d.snapshot.state is State.EXITED
    assert d.facts == ({"kind": "reentry_revoked", "by": "hr-1"},)
    assert d.taken_over == "" and d.mode is None


def test_join_after_revoke_is_not_permitted() -> None:
    """After a revoke a join inside the old window is refused reentry_not_permitted; no expiry."""
    snap = exited(now=T0 + 10_000)
    revoked = revoke_reentry(snap, T0 + 20_000, "hr").snapshot
    assert_refused(
        join(revoked, T0 + 30_000, "s3", identity_ok=True), revoked, Reason.REENTRY_NOT_PERMITTED
    )
    assert next_deadline(revoked) == 0
    assert_unchanged(settle(revoked, snap.reentry_until_ms + 1), revoked)


def test_revoke_in_progress_leaves_the_coming_exit_without_window() -> None:
    """A revoke while in progress keeps it running; the exit that follows opens no window."""
    snap = started()
    revoked = revoke_reentry(snap, T0 + 1, "hr").snapshot
    assert revoked.state is State.IN_PROGRESS
    assert revoked.session == "s1"
    snap = request_exit(revoked, T0 + 2, "s1").snapshot
    d = confirm_exit(snap, T0 + 2, "s1", stored_seq=0)
    assert d.snapshot.reentry_until_ms == 0
    assert d.facts[-1]["reentry_until_ms"] == 0


@pytest.mark.parametrize(
    "make", [invited, expired_link, expired_window], ids=["invited", "link", "window"]
)
def test_revoke_elsewhere_changes_only_the_policy(make: Any) -> None:
    """Invited and expired interviews accept a revoke: second entry off, state unchanged."""
    snap = make()
    d = revoke_reentry(snap, T0 + 10**6, "hr")
    assert d.snapshot == replace(
        snap, version=snap.version + 1, second_entry=False, reentry_until_ms=0
    )
    assert d.facts == ({"kind": "reentry_revoked", "by": "hr"},)


@pytest.mark.parametrize(
    ("make", "reason"),
    [(ended, Reason.INTERVIEW_ENDED), (completed, Reason.ALREADY_COMPLETED)],
    ids=["ended", "completed"],
)
def test_revoke_refused_when_over(make: Any, reason: Reason) -> None:
    """Ended and completed interviews refuse a revoke with their reason."""
    snap = make()
    assert_refused(revoke_reentry(snap, T0 + 10**6, "hr"), snap, reason)


def test_grant_after_revoke_lets_the_candidate_back() -> None:
    """A revoke followed by a grant opens a fresh window and the join re-enters."""
    snap = revoke_reentry(exited(now=T0 + 10_000), T0 + 20_000, "hr").snapshot
    snap = grant_reentry(snap, T0 + 30_000, "hr", NEW_WINDOW).snapshot
    assert snap.reentry_until_ms == T0 + 30_000 + NEW_WINDOW
    assert join(snap, T0 + 40_000, "s3", identity_ok=True).mode is JoinMode.REENTER


# --- renew_link ------------------------------------------------------------------------


def test_renew_link_before_start_moves_the_expiry() -> None:
    """Renewing an invited interview's link sets the new expiry: valid anew until then."""
    snap = invited()
    new_link = LINK + 10**8
    d = renew_link(snap, T0, "hr-1", new_link)
    assert d.refusal is None
    assert d.snapshot == replace(snap, version=snap.version + 1, link_expires_ms=new_link)
    assert d.facts == ({"kind": "link_renewed", "by": "hr-1"},)
    assert d.taken_over == "" and d.mode is None
    assert next_deadline(d.snapshot) == new_link
    assert join(d.snapshot, LINK, "s1", identity_ok=True).mode is JoinMode.START
    late = join(d.snapshot, new_link, "s1", identity_ok=True)
    assert late.refusal == Reason.LINK_EXPIRED


@pytest.mark.parametrize(
    "make",
    [started, lambda: disconnect(started(), T0 + 5, "s1").snapshot],
    ids=["connected", "disconnected"],
)
def test_renew_link_in_progress_moves_the_expiry(make: Any) -> None:
    """In progress, a renewal sets the new expiry: an interrupted candidate may resume until then."""
    snap = make()
    new_link = LINK + 10**8
    d = renew_link(snap, T0 + 10**6, "hr", new_link)
    assert d.refusal is None
    assert d.snapshot == replace(snap, version=snap.version + 1, link_expires_ms=new_link)
    assert d.facts == ({"kind": "link_renewed", "by": "hr"},)
    if not snap.session:
        assert next_deadline(d.snapshot) == new_link
        assert join(d.snapshot, LINK + 1, "s2", identity_ok=True).mode is JoinMode.RESUME


def test_renew_link_after_an_exit_keeps_the_expiry() -> None:
    """After an exit a renewal only bumps the version and records the fact: the re-entry window rules."""
    snap = exited()
    d = renew_link(snap, T0 + 10**6, "hr", LINK + 10**8)
    assert d.refusal is None
    assert d.snapshot == replace(snap, version=snap.version + 1)
    assert d.facts == ({"kind": "link_renewed", "by": "hr"},)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (ended, Reason.INTERVIEW_ENDED),
        (completed, Reason.ALREADY_COMPLETED),
        (expired_link, Reason.LINK_EXPIRED),
    ],
    ids=["ended", "completed", "expired_link"],
)
def test_renew_link_refused_when_over(make: Any, reason: Reason) -> None:
    """Ended, completed and never-started expired interviews refuse a renewal (the last needs a reset)."""
    snap = make()
    assert_refused(renew_link(snap, T0 + 10**6, "hr", LINK + 10**8), snap, reason)


def test_renew_link_after_the_window_ran_out_keeps_the_state() -> None:
    """After a start, even with the re-entry window over, a new link replaces the old (state kept)."""
    snap = expired_window()
    d = renew_link(snap, T0 + 10**6, "hr", LINK + 10**8)
    assert d.refusal is None and d.snapshot.state is State.EXPIRED
    assert d.snapshot.link_expires_ms == snap.link_expires_ms


def test_settled_applies_timeouts_before_the_rule() -> None:
    """settled() runs settle first: a renewal of a link that ran out unsettled is refused link_expired."""
    snap = invited()
    d = settled(snap, LINK + 1, lambda s: renew_link(s, LINK + 1, "hr", LINK + 10**8))
    assert d.refusal == Reason.LINK_EXPIRED
    assert d.snapshot.state is State.EXPIRED
    assert [f["kind"] for f in d.facts] == ["expired"]


# --- next_deadline ---------------------------------------------------------------------


def test_next_deadline_invited_is_link_expiry() -> None:
    """An invited interview's next deadline is the link expiry."""
    assert next_deadline(invited()) == LINK


def test_next_deadline_connected_is_never() -> None:
    """A connected interview has no settle deadline (question timers are the hub's)."""
    assert next_deadline(started()) == 0


def test_next_deadline_disconnected_is_the_link_expiry() -> None:
    """A disconnected interview's next deadline is the link's expiry, or the grace's end after a late drop."""
    assert next_deadline(disconnect(started(), T0 + 5, "s1").snapshot) == LINK
    assert next_deadline(disconnect(started(), LINK + 5, "s1").snapshot) == LINK + 5 + GRACE


def test_next_deadline_exited_is_window_end() -> None:
    """An exited interview's next deadline is its re-entry deadline, or never without one."""
    assert next_deadline(exited(now=T0)) == T0 + WINDOW
    assert next_deadline(exited(second_entry=False)) == 0


@pytest.mark.parametrize("make", [completed, ended, expired_link, expired_window])
def test_next_deadline_final_states_is_never(make: Any) -> None:
    """Completed, ended and expired interviews have no deadline."""
    assert next_deadline(make()) == 0


@pytest.mark.parametrize(
    "make",
    [invited, lambda: disconnect(started(), T0 + 5, "s1").snapshot, lambda: exited(now=T0)],
    ids=["invited", "disconnected", "exited"],
)
def test_next_deadline_is_when_settle_acts(make: Any) -> None:
    """settle changes nothing one millisecond before next_deadline and something at it."""
    snap = make()
    due = next_deadline(snap)
    assert due > 0
    assert_unchanged(settle(snap, due - 1), snap)
    assert settle(snap, due).changed


# --- identity_refusal ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity_ok", "locked_out", "expected"),
    [
        (True, False, None),
        (False, False, Reason.IDENTITY_MISMATCH),
        (True, True, Reason.TOO_MANY_ATTEMPTS),
        (False, True, Reason.TOO_MANY_ATTEMPTS),
    ],
)
def test_identity_refusal(identity_ok: bool, locked_out: bool, expected: Reason | None) -> None:
    """identity_refusal: a lock-out wins over a match; a mismatch alone is identity_mismatch."""
    assert identity_refusal(identity_ok=identity_ok, locked_out=locked_out) == expected


def test_end_carries_hrs_note() -> None:
    """HR's note travels with the ended fact (the candidate, the monitors and the notice show it)."""
    d = end(started(), T0 + 5, "hr-1", "Thank you")
    assert d.facts[-1]["note"] == "Thank you"
