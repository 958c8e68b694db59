"""The interview state machine: every rule about what may happen when, as pure code.

Everything that changes an interview's state lives in this file. ``TRANSITIONS`` is the
table; the functions below take a ``Snapshot``, what happened and ``now`` (ms since the
epoch, passed in: nothing here reads a clock), and return a ``Decision``: the new
snapshot and the facts to record, or a refusal with its reason code. The server applies a
decision to Redis with a compare-and-set on ``Snapshot.version``, so two hubs (or a
candidate's exit and HR's end) racing each other cannot both win.

A lost connection is not an exit, however long it lasts: the interview stays
``in_progress`` without a session, at the same question, until the candidate resumes or
the link expires (``resumable_until``); it never spends the second entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from protocol.messages import Progress
from protocol.reasons import Reason


class State(StrEnum):
    INVITED = "invited"
    IN_PROGRESS = "in_progress"
    EXITED = "exited"
    COMPLETED = "completed"
    ENDED = "ended"
    EXPIRED = "expired"


class Event(StrEnum):
    START = "start"  # identity verified, first entry
    RESUME = "resume"  # a new socket for an interview in progress (same or other device)
    DISCONNECT = "disconnect"  # the socket was lost: not an exit
    FINISH_ANSWER = "finish_answer"  # a question closed, more remain
    COMPLETE = "complete"  # the last question closed
    EXIT = "exit"  # the candidate confirmed an exit
    REENTER = "reenter"  # second entry after an exit
    END = "end"  # HR ended it
    RESET = "reset"  # HR reset it: a new attempt
    EXPIRE = "expire"  # the link (unstarted or interrupted) or the re-entry window ran out
    GRANT_REENTRY = "grant_reentry"  # HR lets an exited candidate come back (again)


TRANSITIONS: dict[State, dict[Event, State]] = {
    State.INVITED: {
        Event.START: State.IN_PROGRESS,
        Event.END: State.ENDED,
        Event.EXPIRE: State.EXPIRED,
    },
    State.IN_PROGRESS: {
        Event.RESUME: State.IN_PROGRESS,
        Event.DISCONNECT: State.IN_PROGRESS,
        Event.FINISH_ANSWER: State.IN_PROGRESS,
        Event.COMPLETE: State.COMPLETED,
        Event.EXIT: State.EXITED,
        Event.END: State.ENDED,
        Event.EXPIRE: State.EXPIRED,  # interrupted, and the link expired before a resume
    },
    State.EXITED: {
        Event.REENTER: State.IN_PROGRESS,
        Event.END: State.ENDED,
        Event.EXPIRE: State.EXPIRED,
        Event.RESET: State.INVITED,
        Event.GRANT_REENTRY: State.EXITED,
    },
    State.COMPLETED: {Event.RESET: State.INVITED},
    State.ENDED: {Event.RESET: State.INVITED},
    # an expired re-entry window can be reopened by HR; an expired link needs a reset
    State.EXPIRED: {Event.RESET: State.INVITED, Event.GRANT_REENTRY: State.EXITED},
}


class AnswerStatus(StrEnum):
    ANSWERED = "answered"
    TIMED_OUT = "timed_out"  # closed by the question's time limit: counts as answered
    PARTIAL = "partial"  # interrupted by an exit, an end or an expiry: kept, not counted


class JoinMode(StrEnum):
    START = "start"
    RESUME = "resume"
    REENTER = "reenter"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the rules need to know about one interview (one Redis hash holds it)."""

    state: State
    version: int
    time_limits_s: tuple[int, ...]  # per question; 0: no limit
    link_expires_ms: int
    second_entry: bool  # policy or HR grant: may the candidate come back after an exit?
    reentry_window_ms: int
    resume_grace_ms: int  # a lost connection stays resumable at least this long
    max_reentries: int = 1
    current_q: int = 0  # the open question; == total when none is left
    question_started_ms: int = 0
    question_deadline_ms: int = 0  # 0: no limit or no open question
    answered: int = 0
    partial: int = 0
    session: str = ""  # the live socket's id; "" when nobody is connected
    disconnected_ms: int = 0
    exit_requested: bool = False
    exited_ms: int = 0
    reentries_used: int = 0
    reentry_until_ms: int = 0  # 0: no re-entry open
    started_ms: int = 0
    expired_why: str = ""  # why it became expired: link, interrupted or reentry_window

    @property
    def total(self) -> int:
        return len(self.time_limits_s)

    @property
    def progress(self) -> Progress:
        return Progress(self.answered, self.partial, self.total)

    @property
    def may_reenter(self) -> bool:
        return self.second_entry and self.reentries_used < self.max_reentries


Fact = dict[str, Any]  # {"kind": ..., ...}: what happened, for the event stream and the log


@dataclass(frozen=True, slots=True)
class Decision:
    """The result of a rule: a new snapshot and its facts, or a refusal."""

    snapshot: Snapshot
    facts: tuple[Fact, ...] = ()
    refusal: str | None = None  # a Reason value when refused
    taken_over: str = ""  # the session that lost the interview to this join
    mode: JoinMode | None = None

    @property
    def changed(self) -> bool:
        return bool(self.facts)


class IllegalTransition(Exception):
    """Our bug: a rule tried a transition that the table does not have."""


def _move(snap: Snapshot, event: Event, **changes: Any) -> Snapshot:
    target = TRANSITIONS[snap.state].get(event)
    if target is None:
        raise IllegalTransition(f"{event} from {snap.state}")
    return replace(snap, state=target, version=snap.version + 1, **changes)


def _refuse(snap: Snapshot, reason: Reason | str) -> Decision:
    return Decision(snapshot=snap, refusal=str(reason))


def _open_question(snap: Snapshot, q: int, now: int) -> dict[str, Any]:
    """Fields that open question ``q`` at ``now`` (or mark that none is left)."""
    if q >= snap.total:
        return {"current_q": snap.total, "question_started_ms": 0, "question_deadline_ms": 0}
    limit = snap.time_limits_s[q]
    return {
        "current_q": q,
        "question_started_ms": now,
        "question_deadline_ms": now + limit * 1000 if limit else 0,
    }


def _close_question(
    snap: Snapshot, status: AnswerStatus, now: int, last_seq: int
) -> tuple[dict[str, Any], Fact]:
    changes: dict[str, Any] = {}
    if status is AnswerStatus.PARTIAL:
        changes["partial"] = snap.partial + 1
    else:
        changes["answered"] = snap.answered + 1
    fact = {
        "kind": "answer_closed",
        "q": snap.current_q,
        "status": str(status),
        "started_ms": snap.question_started_ms,
        "ended_ms": now,
        "last_seq": last_seq,
    }
    return changes, fact


def _advance(snap: Snapshot, status: AnswerStatus, now: int, last_seq: int) -> Decision:
    """Close the open question with ``status`` and open the next, or complete."""
    changes, closed = _close_question(snap, status, now, last_seq)
    nxt = snap.current_q + 1
    changes.update(_open_question(snap, nxt, now))
    if nxt >= snap.total:
        new = _move(snap, Event.COMPLETE, session="", exit_requested=False, **changes)
        return Decision(new, (closed, {"kind": "completed", "progress": new.progress.to_wire()}))
    new = _move(snap, Event.FINISH_ANSWER, exit_requested=False, **changes)
    return Decision(new, (closed, {"kind": "question_started", "q": nxt}))


def resumable_until(snap: Snapshot, now: int) -> int:
    """Until when an interview in progress can be resumed if nobody is (or stays) connected.

    The link's expiry, but never less than the resume grace after the connection was lost
    (or after ``now`` while it is still connected): a candidate still answering when the
    link expires is not locked out by a blip of the network. 0: not in progress.
    """
    if snap.state is not State.IN_PROGRESS:
        return 0
    lost = snap.disconnected_ms if not snap.session and snap.disconnected_ms else now
    return max(snap.link_expires_ms, lost + snap.resume_grace_ms)


def settle(snap: Snapshot, now: int) -> Decision:
    """Apply the timeouts that have run out by ``now``: the link (before a start, or while
    the interview is interrupted) and the re-entry window.

    A lost connection is never an exit. The question time limit of a connected candidate
    is the hub's timer's job (``time_up``); a question whose time ran out while nobody was
    connected is closed when the candidate comes back (``join``).
    """
    if snap.state is State.INVITED and now >= snap.link_expires_ms:
        new = _move(snap, Event.EXPIRE, expired_why="link")
        return Decision(new, ({"kind": "expired", "why": "link"},))
    if (
        snap.state is State.IN_PROGRESS
        and not snap.session
        and snap.disconnected_ms
        and now >= resumable_until(snap, now)
    ):
        return _expire_interrupted(snap, resumable_until(snap, now))
    if snap.state is State.EXITED and snap.reentry_until_ms and now >= snap.reentry_until_ms:
        new = _move(snap, Event.EXPIRE, reentry_until_ms=0, expired_why="reentry_window")
        return Decision(new, ({"kind": "expired", "why": "reentry_window"},))
    return Decision(snap)


def _expire_interrupted(snap: Snapshot, at: int) -> Decision:
    """Nobody came back before the link expired (``at``, not when someone noticed): the
    open question is kept as the candidate left it, and the interview is over."""
    changes: dict[str, Any] = {}
    facts: list[Fact] = []
    if snap.current_q < snap.total:
        deadline = snap.question_deadline_ms
        # a question whose time ran out before the link did was not interrupted: it timed out
        timed_out = bool(deadline) and deadline <= at
        status = AnswerStatus.TIMED_OUT if timed_out else AnswerStatus.PARTIAL
        closed_changes, closed = _close_question(snap, status, deadline if timed_out else at, -1)
        changes.update(closed_changes)
        facts.append(closed)
        # an HR grant of a second entry continues after it, as after an exit
        changes.update(_open_question(snap, snap.current_q + 1, at))
        changes["question_started_ms"] = 0
        changes["question_deadline_ms"] = 0
    new = _move(snap, Event.EXPIRE, expired_why="interrupted", **changes)
    facts.append({"kind": "expired", "why": "interrupted"})
    return Decision(new, tuple(facts))


def _chain(first: Decision, second: Decision) -> Decision:
    return replace(second, facts=first.facts + second.facts)


def identity_refusal(*, identity_ok: bool, locked_out: bool) -> str | None:
    """Whether an identity proof lets the candidate in: a lock-out wins over a match."""
    if locked_out:
        return Reason.TOO_MANY_ATTEMPTS
    if not identity_ok:
        return Reason.IDENTITY_MISMATCH
    return None


def join(
    snap: Snapshot, now: int, session: str, *, identity_ok: bool, locked_out: bool = False
) -> Decision:
    """A candidate presents the link and an identity proof on a new socket ``session``."""
    refusal = identity_refusal(identity_ok=identity_ok, locked_out=locked_out)
    if refusal:
        return _refuse(snap, refusal)
    settled = settle(snap, now)
    decision = _join_settled(settled.snapshot, now, session)
    # a refusal keeps what settle() found (the link or the window ran out): it is still true
    return _chain(settled, decision)


def _join_settled(snap: Snapshot, now: int, session: str) -> Decision:
    state = snap.state
    if state is State.INVITED:
        new = _move(
            snap,
            Event.START,
            session=session,
            started_ms=now,
            disconnected_ms=0,
            **_open_question(snap, 0, now),
        )
        facts: tuple[Fact, ...] = (
            {"kind": "joined", "mode": "start"},
            {"kind": "question_started", "q": 0},
        )
        return Decision(new, facts, mode=JoinMode.START)
    if state is State.IN_PROGRESS:
        # a session never takes over from itself (the same join applied twice: a retry)
        old = snap.session if snap.session != session else ""
        new = _move(snap, Event.RESUME, session=session, disconnected_ms=0, exit_requested=False)
        facts = ({"kind": "joined", "mode": "resume", "took_over": bool(old)},)
        decision = Decision(new, facts, taken_over=old, mode=JoinMode.RESUME)
        if new.question_deadline_ms and now >= new.question_deadline_ms:
            # time ran out while nobody was connected: close it, start the next one now
            advanced = _advance(new, AnswerStatus.TIMED_OUT, now, last_seq=-1)
            decision = replace(_chain(decision, advanced), taken_over=old, mode=JoinMode.RESUME)
        return decision
    if state is State.EXITED:
        if not snap.may_reenter:
            return _refuse(snap, Reason.REENTRY_NOT_PERMITTED)
        opened = _open_question(snap, snap.current_q, now)
        new = _move(
            snap,
            Event.REENTER,
            session=session,
            disconnected_ms=0,
            reentries_used=snap.reentries_used + 1,
            reentry_until_ms=0,
            **opened,
        )
        facts = ({"kind": "joined", "mode": "reenter"},)
        decision = Decision(new, facts, mode=JoinMode.REENTER)
        if new.current_q >= new.total:
            # the exit interrupted the last question: nothing is left to answer
            done = _move(new, Event.COMPLETE, session="")
            decision = Decision(
                done,
                (*facts, {"kind": "completed", "progress": done.progress.to_wire()}),
                mode=JoinMode.REENTER,
            )
        return decision
    if state is State.COMPLETED:
        return _refuse(snap, Reason.ALREADY_COMPLETED)
    if state is State.ENDED:
        return _refuse(snap, Reason.INTERVIEW_ENDED)
    # expired: the link ran out before a start or while interrupted, or the re-entry window did
    if snap.expired_why == "interrupted":
        return _refuse(snap, Reason.LINK_EXPIRED_WHILE_AWAY)
    return _refuse(snap, Reason.LINK_EXPIRED if not snap.started_ms else Reason.REENTRY_WINDOW_OVER)


def _check_live(snap: Snapshot, session: str | None) -> str | None:
    """The refusal for a command from ``session`` when it no longer holds the interview."""
    if snap.state is State.ENDED:
        return Reason.INTERVIEW_ENDED
    if snap.state is not State.IN_PROGRESS:
        return Reason.NOT_IN_PROGRESS
    if session is not None and snap.session != session:
        # nobody holds it: this socket's hold was released (its hub was taken for dead, or
        # its disconnect recorded during an outage), which is no other device's doing
        return Reason.TAKEN_OVER if snap.session else Reason.CONNECTION_INTERRUPTED
    return None


def finish_answer(
    snap: Snapshot, now: int, session: str, q: int, last_seq: int, stored_seq: int
) -> Decision:
    """The candidate says the answer to ``q`` is complete; ``stored_seq`` is what Redis has."""
    refusal = _check_live(snap, session)
    if refusal:
        return _refuse(snap, refusal)
    if q != snap.current_q:
        return _refuse(snap, Reason.NOT_CURRENT_QUESTION)
    if snap.question_deadline_ms and now >= snap.question_deadline_ms:
        # after the deadline (before the hub's timer fired): what is stored is the answer
        return _advance(snap, AnswerStatus.TIMED_OUT, now, stored_seq)
    if stored_seq < last_seq:
        return _refuse(snap, Reason.ANSWER_INCOMPLETE)
    return _advance(snap, AnswerStatus.ANSWERED, now, stored_seq)


def time_up(snap: Snapshot, now: int, q: int, stored_seq: int) -> Decision:
    """The hub's timer for question ``q`` fired: close it if its time has really run out."""
    if (
        snap.state is not State.IN_PROGRESS
        or snap.current_q != q
        or not snap.question_deadline_ms
        or now < snap.question_deadline_ms
    ):
        return Decision(snap)  # already moved on, or not yet: nothing to do
    return _advance(snap, AnswerStatus.TIMED_OUT, now, stored_seq)


def request_exit(snap: Snapshot, now: int, session: str | None) -> Decision:
    """Step one of an exit: nothing is lost yet; the candidate sees what an exit means."""
    refusal = _check_live(snap, session)
    if refusal:
        return _refuse(snap, refusal)
    new = replace(snap, exit_requested=True, version=snap.version + 1)
    return Decision(new, ({"kind": "exit_requested", "progress": snap.progress.to_wire()},))


def cancel_exit(snap: Snapshot, now: int, session: str | None) -> Decision:
    """The candidate closed the confirm dialog."""
    refusal = _check_live(snap, session)
    if refusal:
        return _refuse(snap, refusal)
    if not snap.exit_requested:
        return Decision(snap)
    new = replace(snap, exit_requested=False, version=snap.version + 1)
    return Decision(new, ({"kind": "exit_cancelled"},))


def reentry_until(snap: Snapshot, exit_ms: int) -> int:
    """Until when a candidate who exits at ``exit_ms`` may come back (0: may not)."""
    return exit_ms + snap.reentry_window_ms if snap.may_reenter else 0


def _exit(snap: Snapshot, now: int, last_seq: int) -> Decision:
    changes: dict[str, Any] = {}
    facts: list[Fact] = []
    partial_q = -1
    if snap.current_q < snap.total:
        closed_changes, closed = _close_question(snap, AnswerStatus.PARTIAL, now, last_seq)
        changes.update(closed_changes)
        facts.append(closed)
        partial_q = snap.current_q
        changes.update(_open_question(snap, snap.current_q + 1, now))
        changes["question_started_ms"] = 0
        changes["question_deadline_ms"] = 0
    until = reentry_until(snap, now)
    new = _move(
        snap,
        Event.EXIT,
        session="",
        exit_requested=False,
        exited_ms=now,
        reentry_until_ms=until,
        **changes,
    )
    facts.append(
        {
            "kind": "exited",
            "why": "candidate",  # the only way to exit (a lost connection is not one)
            "partial_q": partial_q,
            "progress": new.progress.to_wire(),
            "reentry_until_ms": until,
        }
    )
    return Decision(new, tuple(facts))


def confirm_exit(snap: Snapshot, now: int, session: str | None, stored_seq: int) -> Decision:
    """Step two: the candidate confirmed. The open question is kept as a partial answer.

    ``session`` is None for the HTTP fallback, which any verified client may use.
    """
    refusal = _check_live(snap, session)
    if refusal:
        return _refuse(snap, refusal)
    if not snap.exit_requested:
        return _refuse(snap, Reason.NO_EXIT_REQUESTED)
    return _exit(snap, now, last_seq=stored_seq)


def disconnect(snap: Snapshot, now: int, session: str) -> Decision:
    """The socket ``session`` was lost without an exit: the interview waits at the same
    question until the candidate resumes or the link expires."""
    if snap.state is not State.IN_PROGRESS or snap.session != session:
        return Decision(snap)  # taken over, exited, ended or completed already
    new = _move(snap, Event.DISCONNECT, session="", disconnected_ms=now, exit_requested=False)
    until = resumable_until(new, now)
    return Decision(new, ({"kind": "disconnected", "resumable_until_ms": until},))


def end(snap: Snapshot, now: int, actor: str, note: str = "") -> Decision:
    """HR ends the interview: the candidate is locked out at once (``note``: HR's message)."""
    if snap.state is State.ENDED:
        return _refuse(snap, Reason.INTERVIEW_ENDED)
    if Event.END not in TRANSITIONS[snap.state]:
        return _refuse(snap, Reason.NOT_ENDABLE)
    changes: dict[str, Any] = {}
    facts: list[Fact] = []
    if snap.state is State.IN_PROGRESS and snap.current_q < snap.total:
        closed_changes, closed = _close_question(snap, AnswerStatus.PARTIAL, now, -1)
        changes.update(closed_changes)
        facts.append(closed)
    new = _move(
        snap,
        Event.END,
        session="",
        exit_requested=False,
        reentry_until_ms=0,
        question_deadline_ms=0,
        **changes,
    )
    facts.append({"kind": "ended", "by": actor, "note": note, "progress": new.progress.to_wire()})
    return Decision(new, tuple(facts), taken_over=snap.session)


def reset(snap: Snapshot, now: int, actor: str, link_expires_ms: int) -> Decision:
    """HR resets the interview: a fresh attempt from the first question."""
    if Event.RESET not in TRANSITIONS[snap.state]:
        return _refuse(snap, Reason.RESET_NOT_ALLOWED)
    new = _move(
        snap,
        Event.RESET,
        link_expires_ms=link_expires_ms,
        current_q=0,
        question_started_ms=0,
        question_deadline_ms=0,
        answered=0,
        partial=0,
        session="",
        disconnected_ms=0,
        exit_requested=False,
        exited_ms=0,
        reentries_used=0,
        reentry_until_ms=0,
        started_ms=0,
        expired_why="",
    )
    return Decision(new, ({"kind": "reset", "by": actor},))


def _over_for_hr(snap: Snapshot) -> str | None:
    """Why HR can no longer change access to an interview (None: it can)."""
    if snap.state is State.ENDED:
        return Reason.INTERVIEW_ENDED
    if snap.state is State.COMPLETED:
        return Reason.ALREADY_COMPLETED
    if snap.state is State.EXPIRED and not snap.started_ms:
        return Reason.LINK_EXPIRED  # never started: a reset gives a new link
    return None


def grant_reentry(snap: Snapshot, now: int, actor: str, window_ms: int) -> Decision:
    """HR grants a (further) second entry, open for ``window_ms`` from now.

    After an exit (or once the window ran out) the candidate may come back until then;
    before that, the grant changes the policy the coming exit will find.
    """
    refusal = _over_for_hr(snap)
    if refusal:
        return _refuse(snap, refusal)
    allowed = max(snap.max_reentries, snap.reentries_used + 1)
    if snap.state in (State.EXITED, State.EXPIRED):
        until = now + window_ms
        new = _move(
            snap,
            Event.GRANT_REENTRY,
            second_entry=True,
            max_reentries=allowed,
            reentry_window_ms=window_ms,
            reentry_until_ms=until,
            expired_why="",
        )
    else:
        until = 0
        new = replace(
            snap,
            version=snap.version + 1,
            second_entry=True,
            max_reentries=allowed,
            reentry_window_ms=window_ms,
        )
    return Decision(new, ({"kind": "reentry_granted", "by": actor, "until_ms": until},))


def revoke_reentry(snap: Snapshot, now: int, actor: str) -> Decision:
    """HR withdraws the second entry: an exited candidate can no longer come back."""
    if snap.state in (State.ENDED, State.COMPLETED):
        return _refuse(
            snap, Reason.INTERVIEW_ENDED if snap.state is State.ENDED else Reason.ALREADY_COMPLETED
        )
    new = replace(snap, version=snap.version + 1, second_entry=False, reentry_until_ms=0)
    return Decision(new, ({"kind": "reentry_revoked", "by": actor},))


def renew_link(snap: Snapshot, now: int, actor: str, link_expires_ms: int) -> Decision:
    """HR sends a new link (the old one stops working). Before a start, and while in
    progress (an interrupted candidate may resume until it expires), it has a new expiry."""
    refusal = _over_for_hr(snap)
    if refusal:
        return _refuse(snap, refusal)
    # after an exit the re-entry window, not the link, says until when: the expiry stays
    renews = snap.state in (State.INVITED, State.IN_PROGRESS)
    expires = link_expires_ms if renews else snap.link_expires_ms
    new = replace(snap, version=snap.version + 1, link_expires_ms=expires)
    return Decision(new, ({"kind": "link_renewed", "by": actor},))


def settled(snap: Snapshot, now: int, rule: Callable[[Snapshot], Decision]) -> Decision:
    """``rule`` applied to what is true at ``now`` (timeouts first), with both sets of facts."""
    first = settle(snap, now)
    return _chain(first, rule(first.snapshot))


def next_deadline(snap: Snapshot) -> int:
    """When ``settle`` would next change this interview (0: never by itself)."""
    if snap.state is State.INVITED:
        return snap.link_expires_ms
    if snap.state is State.IN_PROGRESS and not snap.session and snap.disconnected_ms:
        return resumable_until(snap, snap.disconnected_ms)
    if snap.state is State.EXITED and snap.reentry_until_ms:
        return snap.reentry_until_ms
    return 0


__all__ = [
    "TRANSITIONS",
    "AnswerStatus",
    "Decision",
    "Event",
    "Fact",
    "IllegalTransition",
    "JoinMode",
    "Snapshot",
    "State",
    "cancel_exit",
    "confirm_exit",
    "disconnect",
    "end",
    "finish_answer",
    "grant_reentry",
    "identity_refusal",
    "join",
    "next_deadline",
    "renew_link",
    "request_exit",
    "reset",
    "resumable_until",
    "revoke_reentry",
    "settle",
    "settled",
    "time_up",
]
