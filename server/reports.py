"""Interview reports: the facts first, then scores from a pluggable scorer.

A report is built when an interview completes or HR ends it (if its report switch is on)
and on demand; each build is a new version kept with the attempt (a reset moves them
aside with the attempt). The default scorer is the rubric of protocol/assessment.py
(server/scoring.py); a candidate who asked for human-only review gets no AI score at all.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocol.answers import Answer, assemble
from protocol.consent import Consent
from protocol.interview import Decision, State
from server.audit import SYSTEM
from server.report_view import Presentation, view
from server.scoring import HUMAN_ONLY, DefaultScorer, Scorer, human_only
from server.store import UNREADABLE, Store, snapshot_from_hash

if TYPE_CHECKING:
    from jinja2 import Environment

log = logging.getLogger("interview_hub.reports")

DECISIONS = ("advance", "hold", "reject")  # a person's, never the scorer's
INTERRUPTIONS = {
    "disconnected",
    "exited",
    "joined",
    "exit_requested",
    "exit_cancelled",
    "reentry_granted",
    "reentry_revoked",
    "ended",
    "expired",
    "reset",
}


def unreadable_parts(answer: Answer) -> dict[str, Any]:
    """For an answer some of whose chunks do not open: the marker and how many (its text
    is what the others say); {} when every chunk opened."""
    bad = answer.unreadable
    return {"unreadable": ["text"], "unreadable_chunks": bad} if bad else {}


def spoken_parts(transcript: dict[str, Any] | None, audio_s: float) -> dict[str, Any]:
    """For an answer given by voice: "spoken", and its transcript (text, segment times,
    speech time and pauses), None while it is not made yet; or "typed"."""
    if transcript is None and not audio_s:
        return {"kind": "typed"}
    if transcript is None or transcript.get("unreadable"):
        return {"kind": "spoken", "transcript": transcript}
    return {
        "kind": "spoken",
        "transcript": {
            "text": transcript.get("text", ""),
            "language": transcript.get("language", ""),
            "segments": [
                {k: s.get(k) for k in ("start_ms", "end_ms", "text")}
                for s in transcript.get("segments") or []
            ],
            "audio_ms": transcript.get("audio_ms", 0),
            "speech_ms": transcript.get("speech_ms", 0),
            "pauses": transcript.get("pauses") or [],
        },
    }


@functools.cache
def _templates() -> Environment:
    """Made on first use: a hub that renders no report does not load jinja2 at start."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]),
    )


# called with (meta, report, now) after each new version is kept (the ATS webhook)
ReportListener = Callable[[dict[str, str], dict[str, Any], int], Awaitable[Any]]


class Reports:
    def __init__(
        self,
        store: Store,
        scorer: Scorer | None = None,
        on_ready: list[ReportListener] | None = None,
    ) -> None:
        self.store = store
        self.scorer: Scorer = scorer or DefaultScorer()
        self.on_ready = on_ready or []
        self._tasks: set[asyncio.Task[None]] = set()

    async def facts(self, iv_id: str, meta: dict[str, str], now: int) -> dict[str, Any]:
        snap = snapshot_from_hash(meta)
        questions = json.loads(meta["questions"])
        typed = assemble(await self.store.chunks(iv_id))
        closed = await self.store.answers(iv_id)
        events = await self.store.events(iv_id)
        transcripts = await self.store.transcripts(iv_id)
        audio = await self.store.media_counts(iv_id)
        rubric = json.loads(meta.get("question_rubric") or "[]")
        attempt_started = snap.started_ms
        answers = []
        for q, text in enumerate(questions):
            answer = typed.get(q, Answer())
            record = closed.get(q, {})
            started = record.get("started_ms") or answer.first_ms
            ended = record.get("ended_ms", 0)
            answers.append(
                {
                    **unreadable_parts(answer),
                    "q": q,
                    "question": text,
                    "status": record.get("status", "not_reached" if q > snap.current_q else "open"),
                    "partial": record.get("status") == "partial",
                    "text": answer.text,
                    "chunks": answer.chunks,
                    "started_ms": started,
                    "ended_ms": ended,
                    "duration_s": round((ended - started) / 1000, 1) if started and ended else None,
                    **spoken_parts(transcripts.get(q), audio.get(q, {}).get("audio_s", 0)),
                    **(rubric[q] if q < len(rubric) else {}),
                }
            )
        history = [
            {k: v for k, v in e.items() if k != "id"}
            for e in events
            if e["kind"] in INTERRUPTIONS and e["t"] >= attempt_started - 1
        ]
        ended_by = next((e.get("by") for e in reversed(events) if e["kind"] == "ended"), None)
        name = self.store.read_candidate_name(iv_id, meta)
        return {
            **({"unreadable": ["candidate"]} if name is None else {}),
            "interview_id": iv_id,
            "attempt": int(meta.get("attempt", 1)),
            "candidate": name or "",
            "position": meta.get("position", ""),
            "state": str(snap.state),
            "caused_by": ended_by
            if snap.state is State.ENDED
            else ("candidate" if snap.state in (State.COMPLETED, State.EXITED) else "system"),
            "progress": snap.progress.to_wire(),
            "consent": Consent.from_meta(meta).to_record(),  # review, camera (docs/privacy.md)
            "started_ms": snap.started_ms,
            "answers": answers,
            "interruptions": {
                "disconnects": int(meta.get("disconnects", 0)),
                "exits": int(meta.get("exits", 0)),
                "history": history,
            },
            "generated_ms": now,
            "lang": await self.store.contact_lang(iv_id),
            # the candidate's choice on the consent screen: "ai", "human_only", or "" (none
            # recorded: the interview predates the screen)
            "review": meta.get("review", ""),
        }

    async def generate(
        self, iv_id: str, meta: dict[str, str], now: int, trigger: str
    ) -> dict[str, Any]:
        """Build and keep a new version; announce it on the event streams."""
        report = await self.facts(iv_id, meta, now)
        report["trigger"] = trigger
        if meta.get("review") == HUMAN_ONLY:
            report["scores"] = human_only()
        else:
            report["scores"] = await self.scorer.score(report)
        # a person's overrides and decision stay beside the machine's scores, in every
        # version made after them
        report["hr_review"] = await self.hr_review(iv_id, meta)
        # a report's version is its place in the list (append-only): kept out of the stored
        # JSON, so writing it is one atomic RPUSH that a reader never sees half done
        raw = json.dumps(report, ensure_ascii=False)
        # sealed at rest like the answers it quotes, bound to its attempt
        cipher = self.store.cipher_for(iv_id, meta.get("dek", ""))
        sealed = cipher.seal_text(f"report|a{meta.get('attempt', '1')}", raw)
        fact: dict[str, Any] = {"kind": "report_ready", "trigger": trigger}
        version, event_id = await self.store.append_report(iv_id, sealed, fact, now)
        report["version"] = version
        fact["version"] = version  # as the interview's event stream has it
        await self.store.org_event(meta.get("org", "default"), iv_id, [event_id], [fact], now)
        for listener in self.on_ready:
            try:
                await listener({**meta, "id": iv_id}, report, now)
            except Exception:  # the report is kept; what failed to hear of it is named
                log.exception("report %s v%d: a listener failed", iv_id, version)
        return report

    async def attempt_reports(self, iv_id: str, attempt: int, current: bool) -> dict[str, Any]:
        """How many versions an attempt's reports have and the latest one's outline
        (version, when, trigger, scores' status, recommendation, a person's decision)."""
        count, sealed, dek, _ = await self.store.report_entry(
            iv_id, 0, attempt=0 if current else attempt
        )
        if not sealed:
            return {"versions": 0, "latest": None}
        try:
            report = json.loads(
                self.store.cipher_for(iv_id, dek or "").open_text(f"report|a{attempt}", sealed)
            )
        except UNREADABLE as exc:
            self.store.report_unreadable(iv_id, f"report a{attempt} v{count}", exc)
            return {"versions": int(count), "latest": {"version": int(count), "unreadable": True}}
        scores = report.get("scores") or {}
        decision = (report.get("hr_review") or {}).get("decision") or {}
        return {
            "versions": int(count),
            "latest": {
                "version": int(count),
                "generated_ms": int(report.get("generated_ms", 0)),
                "trigger": report.get("trigger", ""),
                "scores_status": scores.get("status", ""),
                "recommendation": (scores.get("recommendation") or {}).get("value", ""),
                "decision": decision.get("decision", ""),
            },
        }

    async def get(self, iv_id: str, version: int = 0) -> dict[str, Any] | None:
        """Version ``version`` (1, 2, ...), or the latest with 0."""
        if version < 0:
            return None
        count, sealed, dek, attempt = await self.store.report_entry(iv_id, version)
        if not sealed:
            return None
        version = version or int(count)
        try:
            raw = self.store.cipher_for(iv_id, dek or "").open_text(
                f"report|a{attempt or 1}", sealed
            )
            return {**json.loads(raw), "version": version}
        except UNREADABLE as exc:
            # this version is shown as unreadable; the others, and the interview, still read
            self.store.report_unreadable(iv_id, f"report version {version}", exc)
            return {"interview_id": iv_id, "version": version, "unreadable": ["report"]}

    # --- HR's review: overrides beside the machine's scores, and a person's decision ---------

    async def hr_review(self, iv_id: str, meta: dict[str, str]) -> dict[str, Any]:
        """{"overrides": {dimension: {score, machine_score, reason, by, at_ms}},
        "decision": {decision, comment, by, at_ms} | None} of the current attempt."""
        stored = await self.store.review_fields(iv_id)
        cipher = self.store.cipher_for(iv_id, meta.get("dek", ""))
        attempt = meta.get("attempt", "1")
        out: dict[str, Any] = {"overrides": {}, "decision": None}
        for field in sorted(stored):
            try:
                record = json.loads(cipher.open_text(f"review|a{attempt}|{field}", stored[field]))
            except UNREADABLE as exc:
                self.store.report_unreadable(iv_id, f"review {field}", exc)
                record = {"unreadable": ["review"]}
            if field == "decision":
                out["decision"] = record
            else:
                out["overrides"][field] = record
        return out

    async def keep_review(
        self, iv_id: str, meta: dict[str, str], field: str, record: dict[str, Any]
    ) -> None:
        cipher = self.store.cipher_for(iv_id, meta.get("dek", ""))
        sealed = cipher.seal_text(
            f"review|a{meta.get('attempt', '1')}|{field}", json.dumps(record, ensure_ascii=False)
        )
        await self.store.set_review_field(iv_id, field, sealed)

    async def versions(self, iv_id: str) -> int:
        return await self.store.report_count(iv_id)

    @staticmethod
    def html(report: dict[str, Any], presentation: Presentation) -> str:
        """The printable page, in one language (server/report_view.py)."""
        return _templates().get_template("report.html").render(v=view(report, presentation))

    # --- automatic reports --------------------------------------------------------------

    async def on_change(self, iv_id: str, meta: dict[str, str], decision: Decision) -> None:
        """After a change: a completed or ended interview gets its report (switch on)."""
        state = decision.snapshot.state
        if state not in (State.COMPLETED, State.ENDED) or meta.get("report_auto", "1") != "1":
            return
        if meta.get("state") == str(state):
            return  # it was already so: this change is not the one that finished it
        task = asyncio.create_task(self._auto(iv_id, str(state)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def after_transcription(self, iv_id: str, attempt: int) -> None:
        """A transcript landed (server/transcribe.py). When it was the last one pending of
        an interview that is over and whose reports are automatic, a new version scores
        the spoken answers with their words (trigger ``transcribed``): the version made at
        the end could only say their transcripts were pending. One version for all of them:
        a short claim keeps two workers finishing the last two together from making two."""
        meta = await self.store.meta(iv_id)
        if int(meta.get("attempt", 1)) != attempt or not meta.get("dek"):
            return
        if meta.get("state") not in (State.COMPLETED, State.ENDED):
            return
        if meta.get("report_auto", "1") != "1":
            return
        states = await self.store.transcription_states(iv_id)
        if any(s.get("status") == "pending" for s in states.values()):
            return
        if await self.store.claim(f"transcribed-report:{iv_id}:a{attempt}", 30_000) is None:
            return
        await self._auto(iv_id, "transcribed")

    async def _auto(self, iv_id: str, trigger: str) -> None:
        try:
            meta = await self.store.meta(iv_id)
            from server.candidates import wall_clock_ms

            now = wall_clock_ms()
            report = await self.generate(iv_id, meta, now, trigger)
            detail = {"version": report["version"], "trigger": trigger}
            entry = SYSTEM.entry("report", "ok", detail)
            await self.store.log(iv_id, entry, now)
            await self.store.log_org(
                meta.get("org", "default"), {**entry, "interview_id": iv_id}, now
            )
        except Exception:
            log.exception("automatic report for %s failed", iv_id)
