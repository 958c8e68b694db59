"""The candidate's operations, shared by the websocket hub and the HTTP fallback.

Each operation reads the interview, asks the state machine (protocol.interview) what
follows, and applies the answer with one compare-and-set script; when another writer got
there first it reads again and asks again. No rule is decided here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from protocol import consent as consent_rule
from protocol import interview as sm
from protocol.consent import Consent
from protocol.interview import Decision, Snapshot, State
from protocol.messages import AnswerSaved, Exited
from protocol.reasons import Reason, messages
from server import identity
from server.audit import SYSTEM, Caller
from server.refusals import Refusal
from server.settings import Settings
from server.store import Store, help_request

MAX_CAS_RETRIES = 50
# after an applied change, its follow-up (organisation copies, timer, takeover notice) is
# tried again this often when it failed (Redis away): about ten minutes in all
FOLLOW_UP_RETRY_S = (0.5, 1, 2, 5, 10, 30, 60, 60, 120, 300)
log = logging.getLogger("interview_hub.candidates")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Verified:
    interview_id: str
    meta: dict[str, str]
    proof: str = ""  # which identity proof passed, masked (for the operation log)


class Conflict(Exception):
    """Our bug or a pathological race: the compare-and-set kept losing."""


Rule = Callable[[Snapshot, dict[str, str]], Awaitable[Decision]]


class CandidateService:
    def __init__(
        self, store: Store, settings: Settings, clock: Callable[[], int] = wall_clock_ms
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        # called after every applied change (reports, notifications subscribe here)
        self.after_change: list[Callable[[str, dict[str, str], Decision], Awaitable[None]]] = []
        self._hooks: set[asyncio.Task[None]] = set()

    async def _run_hook(
        self, hook: Any, iv_id: str, meta: dict[str, str], decision: Decision
    ) -> None:
        try:
            await hook(iv_id, meta, decision)
        except Exception:
            log.exception("after-change hook %s failed for %s", hook, iv_id)

    # --- identity ---------------------------------------------------------------------

    async def verify(self, token: str, proof: str, caller: Caller, action: str) -> Verified:
        """Check the link and the identity proof; raise Refusal with the reason if not.

        Log entries name the proof used, masked (``Verified.proof``; callers put it in the
        ``Caller`` of what follows)."""
        parts = identity.split_token(token)
        meta = await self.store.meta(parts[0]) if parts else {}
        # One address guessing tokens or identities across interviews is stopped as a whole
        limit = self.settings.max_identity_failures_per_ip
        ip_blocked = bool(caller.ip and limit) and (
            await self.store.ip_failures("identity", caller.ip) >= limit
        )
        if ip_blocked:
            log.warning("identity checks from %s are locked out (%d failures)", caller.ip, limit)
        if not parts or not meta or not identity.token_matches(parts[1], meta.get("token_sha", "")):
            if ip_blocked:
                raise Refusal(Reason.ADDRESS_LOCKED_OUT)
            await self._count_ip_failure(caller)
            raise Refusal(Reason.LINK_INVALID)
        iv_id = parts[0]
        hashes = {"id": meta.get("id_hash", ""), "phone": meta.get("phone_hash", "")}
        matched = identity.which(self.settings.secret, proof, hashes)
        caller = replace(caller, proof=identity.proof_label(proof, matched))
        if ip_blocked:
            await self._log_lockout(iv_id, caller, action, Reason.ADDRESS_LOCKED_OUT, meta)
            raise Refusal(Reason.ADDRESS_LOCKED_OUT)
        # Count the attempt before checking it, atomically: many guesses at once cannot all
        # pass a check made before any of them was counted. A success takes it back.
        attempt = await self.store.count_failed_identity(iv_id, self.settings.identity_lockout_s)
        locked_out = attempt > self.settings.max_identity_attempts
        ok = matched is not None
        refusal = sm.identity_refusal(identity_ok=ok, locked_out=locked_out)
        if refusal:
            if not ok:
                await self._count_ip_failure(caller)
            if locked_out:
                await self._log_lockout(iv_id, caller, action, refusal, meta)
            else:
                await self.log(iv_id, caller, action, refusal, org=meta.get("org"))
            raise Refusal(refusal)
        await self.store.clear_failed_identity(iv_id)
        return Verified(iv_id, meta, caller.proof)

    async def _log_lockout(
        self, iv_id: str, caller: Caller, action: str, reason: str, meta: dict[str, str]
    ) -> None:
        """A refusal during a lock-out. Anyone holding the link can cause any number of
        them: written one by one, they would grow the logs without end, and every entry
        moves the log head that the candidate's own changes compare-and-set against. The
        first of each interval is written; the others are counted and summed up in one
        entry per reason when the interval is over (``sum_up_refusals``)."""
        interval_ms = int(self.settings.refusal_log_interval_s * 1000)
        if interval_ms and not await self.store.refusal_to_log(
            iv_id, reason, caller.ip, self.clock(), interval_ms
        ):
            return
        await self.log(iv_id, caller, action, reason, org=meta.get("org"))

    async def sum_up_refusals(self) -> int:
        """Write the summary of every interview's lock-out refusals that were counted, not
        logged one by one, once their interval is over; return how many summaries."""
        written = 0
        system = SYSTEM
        for iv_id in await self.store.unlogged_refusals_due(self.clock()):
            counts, addresses = await self.store.take_unlogged_refusals(iv_id)
            org = (await self.store.meta(iv_id)).get("org")
            for field, count in sorted(counts.items()):
                if not field.startswith("n:"):
                    continue
                detail = {
                    "refused": int(count),
                    "first_ms": int(counts.get("first_ms", 0)),
                    "last_ms": int(counts.get("last_ms", 0)),
                    "addresses": addresses,
                }
                reason = field.removeprefix("n:")
                await self.log(iv_id, system, "identity_refusals", reason, detail, org=org)
                written += 1
        return written

    async def _count_ip_failure(self, caller: Caller) -> None:
        if caller.ip and self.settings.max_identity_failures_per_ip:
            await self.store.count_ip_failure(
                "identity", caller.ip, self.settings.identity_lockout_s
            )

    # --- the compare-and-set loop -------------------------------------------------------

    async def decide(
        self,
        iv_id: str,
        rule: Rule,
        caller: Caller,
        action: str,
        detail: dict[str, Any] | None = None,
        *,
        meta_changes: Callable[[dict[str, str]], dict[str, str]] | None = None,
        archive: bool = False,
    ) -> Decision:
        """Run ``rule`` on the current snapshot and apply its decision atomically.

        ``meta_changes`` adds fields beside the snapshot (computed from the meta read in
        the same round, so the compare-and-set covers them); ``archive`` keeps the finished
        attempt read-only (a reset).
        """
        for _ in range(MAX_CAS_RETRIES):
            loaded = await self.store.snapshot_and_log_head(iv_id)
            if loaded is None:
                raise Refusal(Reason.LINK_INVALID)
            snap, meta, log_head = loaded
            decision = await rule(snap, meta)
            outcome = decision.refusal or "ok"
            if not decision.changed:
                if decision.refusal:
                    await self.log(iv_id, caller, action, outcome, detail, org=meta.get("org"))
                return decision
            # a refusal may still carry a change (a timeout settle() found): apply it too
            now = self.clock()
            entry = self.store.seal_personal(
                iv_id, meta.get("dek", ""), caller.entry(action, outcome, detail)
            )
            extra = _counters(meta, decision, caller)
            if decision.snapshot.state in OVER and decision.snapshot.state is not snap.state:
                extra["over_ms"] = str(now)  # the retention period counts from here
            if meta_changes is not None:
                extra.update(meta_changes(meta))
            attempt = int(meta.get("attempt", 1))
            ids = await self.store.apply(
                iv_id,
                snap,
                decision,
                now,
                extra_meta=extra,
                log=[entry],
                log_head=log_head,
                archive_attempt=attempt if archive else 0,
            )
            if ids is None:
                continue  # someone else changed it first: read again, decide again
            org = meta.get("org", "default")
            follow_up = self._follow_up(decision, caller, detail, org, iv_id, entry, ids, now)
            try:
                await follow_up()
            except Exception as exc:
                # The change is in Redis: the caller must hear that it happened. What follows
                # it (the notice to a replaced socket, the organisation's copies, the timer)
                # is done again in the background until it works.
                log.warning("after %s on %s: %s; retrying in the background", action, iv_id, exc)
                self._background(self._retry_follow_up(follow_up, action, iv_id))
            for hook in self.after_change:  # reports, notifications: off the reply's path
                task = asyncio.create_task(self._run_hook(hook, iv_id, meta, decision))
                self._hooks.add(task)
                task.add_done_callback(self._hooks.discard)
            return decision
        raise Conflict(f"{action} on {iv_id}: compare-and-set lost {MAX_CAS_RETRIES} times")

    def _follow_up(
        self,
        decision: Decision,
        caller: Caller,
        detail: dict[str, Any] | None,
        org: str,
        iv_id: str,
        entry: dict[str, Any],
        ids: list[str],
        now: int,
    ) -> Callable[[], Awaitable[None]]:
        """What follows an applied decision, as one step that may be run again."""
        kicked = False

        async def run() -> None:
            nonlocal kicked
            if decision.taken_over and not kicked:
                await self._kick_previous(decision, caller, detail)  # first: it is what waits
                kicked = True
            await self.store.after_apply(
                org,
                iv_id,
                {**entry, "interview_id": iv_id},
                ids,
                decision.facts,
                now,
                sm.next_deadline(decision.snapshot),
            )

        return run

    def _background(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._hooks.add(task)
        task.add_done_callback(self._hooks.discard)

    async def _retry_follow_up(
        self, step: Callable[[], Awaitable[None]], action: str, iv_id: str
    ) -> None:
        for delay in FOLLOW_UP_RETRY_S:
            await asyncio.sleep(delay)
            try:
                await step()
                return
            except Exception as exc:
                failure = exc
        log.error("after %s on %s: gave up (%s)", action, iv_id, failure)

    async def _kick_previous(
        self, decision: Decision, caller: Caller, detail: dict[str, Any] | None
    ) -> None:
        """Tell whichever hub holds the socket that lost the interview to close it."""
        new = decision.snapshot
        if new.state is State.IN_PROGRESS:
            message: dict[str, Any] = {"kind": "taken_over", "device": caller.device}
        elif new.state is State.EXITED:
            partial = [f["q"] for f in decision.facts if f.get("status") == "partial"]
            message = {
                "kind": "exited",
                "progress": new.progress.to_wire(),
                "partial_q": partial[0] if partial else -1,
                "reentry_until_ms": new.reentry_until_ms,
            }
        elif new.state is State.ENDED:
            message = {"kind": "ended", "by": caller.actor, "note": (detail or {}).get("note", "")}
        else:
            message = {"kind": "closed", "state": str(new.state)}
        await self.store.publish_control({"session": decision.taken_over, **message})

    async def log(
        self,
        iv_id: str,
        caller: Caller,
        action: str,
        outcome: str,
        detail: dict[str, Any] | None = None,
        org: str | None = None,
    ) -> None:
        entry = await self.store.seal_personal_now(iv_id, caller.entry(action, outcome, detail))
        now = self.clock()
        await self.store.log(iv_id, entry, now)
        if org:
            await self.store.log_org(org, {**entry, "interview_id": iv_id}, now)

    # --- operations ---------------------------------------------------------------------

    async def join(self, iv_id: str, session: str, caller: Caller) -> Decision:
        now = self.clock()

        async def rule(snap: Snapshot, meta: dict[str, str]) -> Decision:
            return with_device(sm.join(snap, now, session, identity_ok=True), "joined", caller)

        return await self.decide(iv_id, rule, caller, "join")

    async def finish_answer(
        self, iv_id: str, session: str, q: int, last_seq: int, caller: Caller
    ) -> Decision:
        async def rule(snap: Snapshot, meta: dict[str, str]) -> Decision:
            stored = await self.store.stored_seq(iv_id, q)
            return sm.finish_answer(snap, self.clock(), session, q, last_seq, stored)

        return await self.decide(iv_id, rule, caller, "finish_answer", {"q": q})

    async def time_up(self, iv_id: str, q: int, caller: Caller) -> Decision:
        async def rule(snap: Snapshot, meta: dict[str, str]) -> Decision:
            stored = await self.store.stored_seq(iv_id, q)
            return sm.time_up(snap, self.clock(), q, stored)

        return await self.decide(iv_id, rule, caller, "time_up", {"q": q})

    async def request_exit(self, iv_id: str, session: str | None, caller: Caller) -> Decision:
        async def rule(snap: Snapshot, meta: dict[str, str]) -> Decision:
            return sm.request_exit(snap, self.clock(), session)

        return await self.decide(iv_id, rule, caller, "exit_request")

    async def cancel_exit(self, iv_id: str, session: str | None, caller: Caller) -> Decision:
        async def rule(snap: Snapshot, meta: dict[str, str]) -> Decision:
            return sm.cancel_exit(snap, self.clock(), session)

        return await self.decide(iv_id, rule, caller, "exit_cancel")

    async def confirm_exit(self, iv_id: str, session: str | None, caller: Caller) -> Decision:
        async def rule(snap: Snapshot, meta: dict[str, str]) -> Decision:
            stored = await self.store.stored_seq(iv_id, snap.current_q)
            decision = sm.confirm_exit(snap, self.clock(), session, stored)
            if session is None and not decision.refusal and snap.session:
                # the HTTP fallback exits for a socket that may still be open somewhere
                return Decision(decision.snapshot, decision.facts, taken_over=snap.session)
            return decision

        return await self.decide(iv_id, rule, caller, "exit")

    async def disconnect(self, iv_id: str, session: str, caller: Caller) -> Decision:
        async def rule(snap: Snapshot, meta: dict[str, str]) -> Decision:
            decision = sm.disconnect(snap, self.clock(), session)
            return with_device(decision, "disconnected", caller)

        return await self.decide(iv_id, rule, caller, "disconnect")

    async def settle(self, iv_id: str) -> Decision:
        """Make the timeouts that ran out real (the sweeper's job)."""

        async def rule(snap: Snapshot, meta: dict[str, str]) -> Decision:
            return sm.settle(snap, self.clock())

        return await self.decide(iv_id, rule, SYSTEM, "timeout")

    async def record_consent(
        self, iv_id: str, review: str, camera: str, notice: str, caller: Caller
    ) -> Consent:
        """Record the candidate's choices (protocol/consent.py) in the meta, with their log
        entry in the same step; a refusal (going back from human-only review) is logged and
        raised. The state does not change, so any state will do: human-only review may be
        asked for after the interview too. The log's head is the compare-and-set here."""
        detail = {"review": review, "camera": camera, "notice": notice}
        for _ in range(MAX_CAS_RETRIES):
            loaded = await self.store.snapshot_and_log_head(iv_id)
            if loaded is None:
                raise Refusal(Reason.LINK_INVALID)
            snap, meta, log_head = loaded
            now = self.clock()
            change = consent_rule.choose(Consent.from_meta(meta), review, camera, notice, now)
            org = meta.get("org", "default")
            if change.refusal:
                await self.log(iv_id, caller, "consent", change.refusal, detail, org=org)
                raise Refusal(change.refusal)
            if not change.changed:
                return change.consent  # the same choices again: nothing new to record
            entry = self.store.seal_personal(
                iv_id, meta.get("dek", ""), caller.entry("consent", "ok", detail)
            )
            # an event too, so HR watching the interview sees the choice as it is made
            fact = {"kind": "consent", "review": review, "camera": camera}
            ids = await self.store.apply(
                iv_id,
                snap,
                Decision(snap, (fact,)),
                now,
                extra_meta=change.consent.to_meta(),
                log=[entry],
                log_head=log_head,
            )
            if ids is None:
                continue  # another change came first: read again, decide again
            await self.store.log_org(org, {**entry, "interview_id": iv_id}, now)
            await self.store.org_event(org, iv_id, ids, [fact], now)
            return change.consent
        raise Conflict(f"consent on {iv_id}: compare-and-set lost {MAX_CAS_RETRIES} times")

    async def exited_message(self, iv_id: str) -> Exited | None:
        """What a socket is told of an exit made elsewhere (over HTTP), read back from the
        stored state: the same ``exited`` its control message carries. None: not exited."""
        loaded = await self.store.snapshot(iv_id)
        if loaded is None or loaded[0].state is not State.EXITED:
            return None
        snap = loaded[0]
        q = snap.current_q - 1  # the exit moved past the question it interrupted
        record = (await self.store.answers(iv_id)).get(q, {})
        partial = q if record.get("status") == "partial" else -1
        return Exited(snap.progress, partial, snap.reentry_until_ms > 0, snap.reentry_until_ms)

    async def closed_while_away(self, iv_id: str, snap: Snapshot) -> AnswerSaved | None:
        """On a re-entry: the question that closed without a socket (the link expired while
        the interview was interrupted, before HR granted a second entry), as
        ``answer_saved{q, partial | timed_out, -1}``; None after a confirmed exit, whose
        ``exited`` named it already."""
        q = snap.current_q - 1
        record = (await self.store.answers(iv_id)).get(q) if q >= 0 else None
        if not record or int(record.get("last_seq", 0)) != -1:
            return None
        return AnswerSaved(q, str(record["status"]), -1, snap.progress)

    async def exit_preview(self, iv_id: str, snap: Snapshot) -> dict[str, Any]:
        """What an exit would mean now (the figures in the confirm dialog)."""
        open_q = snap.current_q if snap.current_q < snap.total else -1
        saved = await self.store.stored_seq(iv_id, open_q) if open_q >= 0 else 0
        return {
            "progress": snap.progress,
            "current_q": open_q,
            "saved_seq": saved,
            "reentry_allowed": snap.may_reenter,
            "reentry_until_ms": sm.reentry_until(snap, self.clock()),
        }

    async def centre(
        self, proof: str, verified: Verified, device_id: str = ""
    ) -> list[dict[str, Any]]:
        """The verified person's interviews: state, progress, interruptions, what next, and
        whether the device holding each is the one asking (``device_id``)."""
        person = identity.keyed_hash(self.settings.secret, proof)
        ids = await self.store.person_interviews(person)
        ids.add(verified.interview_id)
        now = self.clock()
        items = []
        org = verified.meta.get("org")
        for iv_id in sorted(ids):
            loaded = await self.store.snapshot(iv_id)
            if loaded is None:
                continue
            snap, meta = loaded
            if meta.get("org") != org:
                continue  # the same person's interviews with another employer are not ours
            snap = sm.settle(snap, now).snapshot  # show what is true now, even if not swept yet
            items.append(
                {
                    "interview_id": iv_id,
                    "position": meta.get("position", ""),
                    "state": str(snap.state),
                    "progress": snap.progress.to_wire(),
                    "interruptions": {
                        "disconnects": int(meta.get("disconnects", 0)),
                        "exits": int(meta.get("exits", 0)),
                    },
                    "created_ms": int(meta.get("created_ms", 0)),
                    "next": next_step(snap, now),
                    "consent": consent_record(meta),
                    # a join takes over from that device (SPEC §8.4): the page asks first
                    "connected": bool(snap.session),
                    "connected_device": meta.get("device", "") if snap.session else "",
                    "connected_here": bool(
                        snap.session and device_id and meta.get("device_id") == device_id
                    ),
                    "help_request": help_request(meta),
                }
            )
        return items

    async def ask_help(self, verified: Verified, kind: str, caller: Caller) -> dict[str, Any]:
        """The candidate asks HR for a reset or more time: recorded and logged once while
        pending (a second ask of that kind is answered ``repeated`` and logs nothing)."""
        iv_id = verified.interview_id
        since, repeated = await self.store.ask_help(iv_id, kind, self.clock())
        if not repeated:
            org = verified.meta.get("org")
            await self.log(iv_id, caller, "help_request", "ok", {"kind": kind}, org=org)
        return {"kind": kind, "requested_ms": since, "repeated": repeated}

    async def hr_contact(self, org: str) -> dict[str, str]:
        """Whom the organisation's candidates contact (name, phone, email; "" unset)."""
        return await self.store.org_hr_contact(org)

    async def retention_days(self, org: str) -> int:
        """The organisation's retention (the notice before recording states it)."""
        return await self.store.retention_days(org) or self.settings.retention_days


def consent_record(meta: dict[str, str]) -> dict[str, Any]:
    """The candidate's recorded choices, for the candidate centre and HR (ConsentRecord)."""
    return Consent.from_meta(meta).to_record()


def with_device(decision: Decision, kind: str, caller: Caller) -> Decision:
    """Monitors see which device joined, took over or dropped: add it to that fact."""
    if not caller.device or not any(f["kind"] == kind for f in decision.facts):
        return decision
    facts = tuple(
        {**f, "device": caller.device} if f["kind"] == kind else f for f in decision.facts
    )
    return replace(decision, facts=facts)


def next_step(snap: Snapshot, now: int) -> dict[str, Any]:
    """What the candidate can do next with this interview, and until when (and, when they
    cannot enter, the reason a join would get, with its message)."""
    step = next_action(snap, now)
    if step["action"] in ("none", "contact_hr"):
        why = sm.join(snap, now, "", identity_ok=True).refusal or Reason.NOT_IN_PROGRESS
        step |= {"why": str(why), "message": messages(why)}
    return step


def next_action(snap: Snapshot, now: int) -> dict[str, Any]:
    if snap.state is State.INVITED:
        return {"action": "start", "until_ms": snap.link_expires_ms}
    if snap.state is State.IN_PROGRESS:
        # connected or not, at the same question: a lost connection is never an exit
        return {"action": "continue", "until_ms": sm.resumable_until(snap, now)}
    if snap.state is State.EXITED and snap.may_reenter and snap.reentry_until_ms:
        return {"action": "reenter", "until_ms": snap.reentry_until_ms}
    if snap.state is State.COMPLETED:
        return {"action": "none", "until_ms": 0}
    return {"action": "contact_hr", "until_ms": 0}


# States in which an interview is over: its retention period runs (server/retention.py)
OVER = frozenset({State.EXITED, State.ENDED, State.COMPLETED, State.EXPIRED})


def _counters(meta: dict[str, str], decision: Decision, caller: Caller) -> dict[str, str]:
    """Fields kept beside the snapshot: interruption counters and the latest device."""
    out: dict[str, str] = {}
    kinds = [f["kind"] for f in decision.facts]
    if "disconnected" in kinds:
        out["disconnects"] = str(int(meta.get("disconnects", 0)) + 1)
    if "exited" in kinds:
        out["exits"] = str(int(meta.get("exits", 0)) + 1)
    if "joined" in kinds:
        out["device"] = caller.device[:256]
        out["device_id"] = caller.device_id[:64]
    return out


__all__ = ["Caller", "CandidateService", "Conflict", "Refusal", "Verified", "consent_record"]
