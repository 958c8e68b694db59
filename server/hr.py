"""What HR does: every action checks a permission, stays inside the user's organisation,
goes through the state machine and the same compare-and-set as the candidate's commands,
and is written to the operation log (refusals too)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from protocol import interview as sm
from protocol.answers import Answer, assemble
from protocol.interview import Decision, Snapshot, State
from protocol.permissions import Permission, refusal
from protocol.reasons import Reason
from server import audit, identity
from server.accounts import Principal
from server.anchors import AnchorBook, Checkpoint, public_key_pem
from server.candidates import Caller, CandidateService, Refusal, Rule, consent_record, next_action
from server.interviews import InterviewSpec, SpecError, create_interview
from server.notify import Notifier
from server.report_view import DEFAULT_TIME_ZONE, LANGS, Presentation, is_time_zone
from server.reports import DECISIONS, Reports, unreadable_parts
from server.scoring import DIMENSIONS
from server.store import HELP_ANSWERED, Store, help_request, log_scope, snapshot_from_hash
from server.store.orgs import hr_contact_of
from server.webhooks import Webhooks, strip_query

# the console's answer search reads this many of the organisation's newest interviews (each
# one's chunks and transcripts) and returns at most this many answers
SEARCH_INTERVIEWS = 200
SEARCH_HITS = 50


@dataclass(frozen=True, slots=True)
class Request:
    """Who asks, from where: for the permission check and the log."""

    principal: Principal
    ip: str = ""
    device: str = ""

    @property
    def caller(self) -> Caller:
        p = self.principal
        return Caller(ip=self.ip, device=self.device, actor=p.user, role=p.role)


class HRService:
    def __init__(
        self,
        candidates: CandidateService,
        reports: Reports,
        notifier: Notifier,
        webhooks: Webhooks | None = None,
    ) -> None:
        self.candidates = candidates
        self.reports = reports
        self.notifier = notifier
        self.webhooks = webhooks or Webhooks(candidates.store, candidates.settings, notifier)
        self.store: Store = candidates.store
        self.settings = candidates.settings
        self.clock = candidates.clock
        # the signed checkpoints the logs are verified against (set by the app)
        self.log_anchors: AnchorBook | None = None
        self._anchors_read = asyncio.Lock()

    # --- checks -------------------------------------------------------------------------

    async def require(self, req: Request, needed: Permission, action: str, iv_id: str = "") -> None:
        """Raise Refusal(permission_denied:<perm>) unless held; a refusal is logged too."""
        denied = refusal(req.principal.permissions, needed)
        if denied is None:
            return
        entry = req.caller.entry(action, denied)
        now = self.clock()
        if iv_id and await self._in_org(req, iv_id):
            await self.store.log(iv_id, entry, now)
        await self.store.log_org(req.principal.org, {**entry, "interview_id": iv_id}, now)
        raise Refusal(denied)

    async def _in_org(self, req: Request, iv_id: str) -> dict[str, str] | None:
        meta = await self.store.meta(iv_id) if iv_id.isalnum() else {}
        return meta if meta and meta.get("org") == req.principal.org else None

    async def interview_meta(self, req: Request, iv_id: str) -> dict[str, str]:
        """The interview's meta if it is in the user's organisation; else not_found
        (another organisation's interviews do not exist for this user)."""
        meta = await self._in_org(req, iv_id)
        if meta is None:
            raise Refusal(Reason.NOT_FOUND)
        return meta

    # --- reading ------------------------------------------------------------------------

    def summary(self, meta: dict[str, str], now: int) -> dict[str, Any]:
        snap = sm.settle(_snapshot(meta), now).snapshot  # true now, even before the sweep
        iv_id = meta.get("id", "")
        # each sealed field on its own: one that does not open is marked, the rest shown
        sealed = {
            "candidate": self.store.read_meta(iv_id, meta, "candidate"),
            "phone": self.store.read_meta(iv_id, meta, "phone_masked"),
            "id_number": self.store.read_meta(iv_id, meta, "id_masked"),
        }
        out: dict[str, Any] = {
            "interview_id": meta["id"],
            "candidate": sealed["candidate"] or "",
            "position": meta.get("position", ""),
            "phone": sealed["phone"] or "",
            "id_number": sealed["id_number"] or "",
            "state": str(snap.state),
            "progress": snap.progress.to_wire(),
            "connected": bool(snap.session),
            # in progress without a socket: since when (HR sees "interrupted since ...")
            "disconnected_ms": snap.disconnected_ms
            if snap.state is State.IN_PROGRESS and not snap.session
            else 0,
            "current_q": snap.current_q,
            "device": meta.get("device", ""),
            "last_activity_ms": int(meta.get("last_activity_ms", 0)),
            "created_ms": int(meta.get("created_ms", 0)),
            "interruptions": {
                "disconnects": int(meta.get("disconnects", 0)),
                "exits": int(meta.get("exits", 0)),
            },
            "second_entry": snap.may_reenter,
            "reentry_until_ms": snap.reentry_until_ms,
            "link_expires_ms": snap.link_expires_ms,
            "attempt": int(meta.get("attempt", 1)),
            "erased_ms": int(meta.get("erased_ms", 0)),
            # who ended it and when, for the console's disabled "end" ("" / 0 otherwise)
            "ended_by": meta.get("ended_by", "") if snap.state is State.ENDED else "",
            "ended_at_ms": int(meta.get("ended_at_ms", 0)) if snap.state is State.ENDED else 0,
            # after an erasure: were Redis' files rewritten without it ("" before, unknown)
            "files": meta.get("files", ""),
            "next": next_action(snap, now),
            "consent": consent_record(meta),  # the candidate's choices (docs/privacy.md)
            "report_auto": meta.get("report_auto", "1") == "1",
            "help_request": help_request(meta),  # what the candidate asked HR for, pending
        }
        unreadable = [name for name, value in sealed.items() if value is None]
        if unreadable:
            out["unreadable"] = unreadable  # their sealed records do not open
        return out

    async def list_interviews(self, req: Request, state: str = "") -> list[dict[str, Any]]:
        await self.require(req, Permission.INTERVIEW_VIEW, "list")
        ids = await self.store.interview_ids(req.principal.org)
        now = self.clock()
        items = [self.summary(m, now) for m in await self.store.metas(ids) if m]
        if state:
            wanted = {"ongoing": "in_progress"}.get(state, state)
            items = [i for i in items if i["state"] == wanted]
        return items

    async def get_interview(self, req: Request, iv_id: str, attempt: int = 0) -> dict[str, Any]:
        await self.require(req, Permission.INTERVIEW_VIEW, "view", iv_id)
        meta = await self.interview_meta(req, iv_id)
        current = int(meta.get("attempt", 1))
        part = ""
        if attempt and attempt != current:
            if not 1 <= attempt < current:
                raise Refusal(Reason.NOT_FOUND)
            part = f"a{attempt}"
            meta = await self.store.attempt_meta(iv_id, attempt)
        out = self.summary(meta, self.clock())
        out["attempt"] = attempt or current
        out["attempts"] = current
        out["read_only"] = bool(part)
        out["answers"] = await self.answers(iv_id, meta, part)
        return out

    async def answers(
        self, iv_id: str, meta: dict[str, str], part: str = ""
    ) -> list[dict[str, Any]]:
        questions = json.loads(meta["questions"])
        typed = assemble(await self.store.chunks(iv_id, part))
        closed = await self.store.answers(iv_id, part)
        media = await self.store.media_counts(iv_id) if not part else {}
        transcribed = await self.transcript_states(iv_id) if not part else {}
        current_q = int(meta.get("current_q", 0))
        limits = _snapshot(meta).time_limits_s
        out = []
        for q, text in enumerate(questions):
            answer = typed.get(q, Answer())
            record = closed.get(q, {})
            out.append(
                {
                    **unreadable_parts(answer),
                    "media": media.get(q, {"frames": 0, "audio_s": 0.0}),
                    "q": q,
                    "question": text,
                    "time_limit_s": limits[q] if q < len(limits) else 0,
                    "status": record.get("status")
                    or ("open" if q == current_q and meta.get("state") == "in_progress" else ""),
                    "started_ms": record.get("started_ms") or answer.first_ms,
                    "ended_ms": record.get("ended_ms", 0),
                    "chunks": answer.chunks,
                    "text": answer.text,
                    "transcript": transcribed.get(q, {}).get("status", "none"),
                    **(
                        {"transcript_reason": transcribed[q]["reason"]}
                        if transcribed.get(q, {}).get("status") == "failed"
                        else {}
                    ),
                }
            )
        return out

    async def transcript_states(self, iv_id: str) -> dict[int, dict[str, Any]]:
        """Per answer: how its transcription stands (none / pending / done / failed)."""
        states = await self.store.transcription_states(iv_id)
        for q in await self.store.transcribed_questions(iv_id):
            states[q] = {"status": "done"}
        return states

    async def transcript(self, req: Request, iv_id: str, q: int) -> dict[str, Any]:
        """One answer's transcript (as the worker made it); permission as for the recording."""
        await self.require(req, Permission.INTERVIEW_VIEW, "transcript", iv_id)
        await self.interview_meta(req, iv_id)
        record = (await self.store.transcripts(iv_id)).get(q)
        if record is None:
            raise Refusal(Reason.NO_TRANSCRIPT)
        return {"q": q, **record}

    async def search(self, req: Request, phrase: str) -> dict[str, Any]:
        """Interviews of the caller's organisation whose answers (typed text or transcript)
        contain ``phrase`` (case-folded), newest first; at most SEARCH_INTERVIEWS
        interviews are read, and SEARCH_HITS answers returned."""
        await self.require(req, Permission.INTERVIEW_VIEW, "search")
        needle = phrase.strip().casefold()
        if not needle:
            raise Refusal(Reason.BAD_FIELD)
        ids = (await self.store.interview_ids(req.principal.org))[-SEARCH_INTERVIEWS:][::-1]
        hits: list[dict[str, Any]] = []
        for iv_id, meta in zip(ids, await self.store.metas(ids), strict=True):
            if not meta or meta.get("erased_ms") or not meta.get("dek"):
                continue
            questions = json.loads(meta.get("questions", "[]"))
            answers = assemble(await self.store.chunks(iv_id))
            spoken = await self.store.transcripts(iv_id)
            for q in range(len(questions)):
                typed = answers.get(q, Answer()).text
                said = str(spoken.get(q, {}).get("text", ""))
                for source, text in (("text", typed), ("transcript", said)):
                    at = text.casefold().find(needle)
                    if at < 0:
                        continue
                    hits.append(
                        {
                            "interview_id": iv_id,
                            "candidate": self.store.read_candidate_name(iv_id, meta) or "",
                            "position": meta.get("position", ""),
                            "q": q,
                            "source": source,
                            "excerpt": text[max(0, at - 40) : at + len(needle) + 40],
                        }
                    )
                    if len(hits) >= SEARCH_HITS:
                        return {"hits": hits, "searched": len(ids), "truncated": True}
        return {"hits": hits, "searched": len(ids), "truncated": False}

    async def interview_log(
        self, req: Request, iv_id: str, action: str = "", since_ms: int = 0, until_ms: int = 0
    ) -> list[dict[str, Any]]:
        await self.require(req, Permission.LOG_VIEW, "log_view", iv_id)
        await self.interview_meta(req, iv_id)
        return _filter(await self.store.oplog(iv_id), action, since_ms, until_ms)

    async def verify_log(self, req: Request, iv_id: str, export: bool = False) -> dict[str, Any]:
        """Check the interview's log (MACs, positions, ids, head) against the signed
        checkpoints; with ``export``, the entries, head and checkpoints as proof."""
        await self.require(req, Permission.LOG_VIEW, "log_verify", iv_id)
        await self.interview_meta(req, iv_id)
        scope = log_scope(iv_id)
        entries, head = await self.store.log_chain(scope)
        checkpoints, bad = await self._checkpoints(scope)
        # as `interview-hub log verify ID` (exit 1): without a checkpoint, no verdict
        verdict = audit.verify(
            self.store.log_key, scope, entries, head, checkpoints, bad, need_checkpoint=True
        )
        result = verdict.to_json()
        if export:
            book = self.log_anchors
            result.update(
                interview_id=iv_id,
                scope=scope,
                head=head,
                entries=entries,
                checkpoints=[cp.to_json() for cp in checkpoints],
                public_key=public_key_pem(book.public) if book and book.public else "",
            )
        return result

    async def _checkpoints(self, scope: str) -> tuple[list[Checkpoint], int]:
        book = self.log_anchors
        if book is None:
            return [], 0
        async with self._anchors_read:  # one reader of the book at a time
            await asyncio.to_thread(book.refresh)
            return book.of(scope)

    async def org_log(
        self, req: Request, action: str = "", since_ms: int = 0, until_ms: int = 0
    ) -> list[dict[str, Any]]:
        await self.require(req, Permission.LOG_VIEW, "log_view")
        start = f"{since_ms}-0" if since_ms else "-"
        entries = await self.store.org_log(req.principal.org, after=start, count=10_000)
        return _filter(entries, action, since_ms, until_ms)

    async def generate_report(self, req: Request, iv_id: str) -> dict[str, Any]:
        await self.require(req, Permission.REPORT_GENERATE, "report", iv_id)
        meta = await self.interview_meta(req, iv_id)
        report = await self.reports.generate(iv_id, meta, self.clock(), trigger="on_demand")
        await self.candidates.log(
            iv_id, req.caller, "report", "ok", {"version": report["version"]}, org=req.principal.org
        )
        return report

    async def override_score(
        self, req: Request, iv_id: str, dimension: str, score: int, reason: str
    ) -> dict[str, Any]:
        """A person's score for one dimension, with the reason, kept beside the machine's;
        a new report version; logged (the reason sealed like HR's other notes)."""
        await self.require(req, Permission.REPORT_GENERATE, "report_override", iv_id)
        meta = await self.interview_meta(req, iv_id)
        if dimension not in DIMENSIONS:
            raise Refusal(f"{Reason.BAD_FIELD}:dimension must be one of {', '.join(DIMENSIONS)}")
        if not reason.strip():
            raise Refusal(f"{Reason.BAD_FIELD}:reason is required")
        latest = await self._reviewable_report(iv_id)
        machine = (latest["scores"].get("dimensions") or {}).get(dimension)
        now = self.clock()
        record = {
            "score": score,
            "machine_score": machine.get("score") if isinstance(machine, dict) else None,
            "reason": reason.strip(),
            "by": req.principal.user,
            "at_ms": now,
        }
        await self.reports.keep_review(iv_id, meta, dimension, record)
        report = await self.reports.generate(iv_id, meta, now, trigger="review")
        await self.candidates.log(
            iv_id,
            req.caller,
            "report_override",
            "ok",
            {
                "dimension": dimension,
                "score": score,
                "machine_score": record["machine_score"],
                "version": report["version"],
                "note": record["reason"],
            },
            org=req.principal.org,
        )
        return report

    async def decide(self, req: Request, iv_id: str, decision: str, comment: str) -> dict[str, Any]:
        """A person's decision (advance, hold, reject) with their comment: a new report
        version; logged. Nothing else decides."""
        await self.require(req, Permission.REPORT_GENERATE, "report_decision", iv_id)
        meta = await self.interview_meta(req, iv_id)
        if decision not in DECISIONS:
            raise Refusal(f"{Reason.BAD_FIELD}:decision must be one of {', '.join(DECISIONS)}")
        await self._reviewable_report(iv_id)
        now = self.clock()
        record = {
            "decision": decision,
            "comment": comment.strip(),
            "by": req.principal.user,
            "at_ms": now,
        }
        await self.reports.keep_review(iv_id, meta, "decision", record)
        report = await self.reports.generate(iv_id, meta, now, trigger="review")
        detail: dict[str, Any] = {"decision": decision, "version": report["version"]}
        if record["comment"]:
            detail["note"] = record["comment"]
        await self.candidates.log(
            iv_id, req.caller, "report_decision", "ok", detail, org=req.principal.org
        )
        await self.webhooks.emit(
            "decision.made", {**meta, "id": iv_id}, {"decision": record, "report": report}, now
        )
        return report

    # --- the candidate's file -----------------------------------------------------------

    async def profile(self, req: Request, iv_id: str = "", profile_id: str = "") -> dict[str, Any]:
        """The candidate's file in this organisation (from one of their interviews, or by
        its id): every interview of theirs, each attempt, its reports and a decision."""
        await self.require(req, Permission.INTERVIEW_VIEW, "profile_view", iv_id)
        org = req.principal.org
        if iv_id:
            meta = await self.interview_meta(req, iv_id)
            profile_id = meta.get("profile") or identity.profile_id(
                self.settings.secret, org, meta.get("id_hash", ""), meta.get("phone_hash", "")
            )
            if profile_id and not meta.get("profile"):  # made before profiles existed
                await self.store.file_in_profile(iv_id, org, profile_id)
        if not profile_id or not profile_id.isalnum():
            raise Refusal(Reason.NOT_FOUND)
        ids = sorted(await self.store.profile_interviews(org, profile_id))
        metas = [
            m
            for m in await self.store.metas(ids)
            if m and m.get("org") == org and m.get("profile") == profile_id
        ]
        if not metas:
            raise Refusal(Reason.NOT_FOUND)
        now = self.clock()
        metas.sort(key=lambda m: int(m.get("created_ms", 0)))
        interviews = []
        for meta in metas:
            summary = self.summary(meta, now)
            newest = summary
            interviews.append(
                {
                    **{
                        k: summary[k]
                        for k in ("interview_id", "candidate", "position", "state", "progress")
                    },
                    "created_ms": summary["created_ms"],
                    "attempts": await self._attempts(meta, summary["state"]),
                    **({"unreadable": summary["unreadable"]} if "unreadable" in summary else {}),
                }
            )
        latest = interviews[-1]
        return {
            "profile_id": profile_id,
            "candidate": latest["candidate"],
            "phone": newest["phone"],
            "id_number": newest["id_number"],
            "interviews": interviews,
        }

    async def _attempts(self, meta: dict[str, str], state_now: str) -> list[dict[str, Any]]:
        """Each attempt of an interview, the current one last: its state and reports."""
        iv_id = meta["id"]
        current = int(meta.get("attempt", 1))
        out = []
        for n in range(1, current + 1):
            if n == current:
                state = state_now  # the current attempt's, as the summary settled it
            else:
                state = (await self.store.attempt_meta(iv_id, n)).get("state", "")
            reports = await self.reports.attempt_reports(iv_id, n, current=n == current)
            out.append({"attempt": n, "current": n == current, "state": state, **reports})
        return out

    # --- the organisation's ATS webhook ---------------------------------------------------

    async def webhook(self, req: Request) -> dict[str, Any]:
        """The webhook as set, and its newest deliveries (user.manage)."""
        await self.require(req, Permission.USER_MANAGE, "webhook_view")
        org = req.principal.org
        return {
            **await self.webhooks.config(org),
            "deliveries": await self.store.webhook_deliveries(org),
        }

    async def set_webhook(
        self, req: Request, url: str, events: list[str], rotate: bool
    ) -> dict[str, Any]:
        """Set the URL and events; a signing secret is made the first time and on
        ``rotate`` and returned this once (user.manage, logged without it)."""
        await self.require(req, Permission.USER_MANAGE, "webhook_set")
        org, now = req.principal.org, self.clock()
        try:
            config, secret = await self.webhooks.configure(org, url, events, rotate, now)
        except ValueError as exc:
            raise Refusal(f"{Reason.BAD_FIELD}:{exc}") from None
        detail = {"url": strip_query(config["url"]), "events": config["events"]}
        if secret:
            detail["secret"] = config["secret_fingerprint"]  # which one, never the secret
        entry = req.caller.entry("webhook_set", "ok", detail)
        await self.store.log_org(org, entry, now)
        out = {**config, "deliveries": await self.store.webhook_deliveries(org)}
        return {**out, "secret": secret} if secret else out

    async def remove_webhook(self, req: Request) -> dict[str, Any]:
        await self.require(req, Permission.USER_MANAGE, "webhook_remove")
        org = req.principal.org
        await self.webhooks.remove(org)
        entry = req.caller.entry("webhook_remove", "ok")
        await self.store.log_org(org, entry, self.clock())
        return await self.webhook(req)

    async def compare(
        self, req: Request, position: str, sort: str = "", state: str = "", decision: str = ""
    ) -> dict[str, Any]:
        """A position's candidates side by side: each interview's state, its latest report's
        scores (the machine's and a person's override), the first quote per dimension, the
        advisory suggestion and the decision. Filtered by state and decision; sorted by a
        dimension or "overall" (highest first, unscored last), else by name."""
        await self.require(req, Permission.INTERVIEW_VIEW, "compare")
        ids = await self.store.interview_ids(req.principal.org)
        now = self.clock()
        rows = []
        for meta in await self.store.metas(ids):
            if not meta or meta.get("position") != position:
                continue
            summary = self.summary(meta, now)
            report = await self.reports.get(meta["id"]) or {}
            rows.append(compare_row(summary, report))
        if state:
            rows = [r for r in rows if r["state"] == state]
        if decision:
            rows = [r for r in rows if (r["decision"] or {}).get("decision", "none") == decision]
        rows.sort(key=lambda r: (r["candidate"], r["interview_id"]))
        if sort in (*DIMENSIONS, "overall"):
            rows.sort(key=lambda r: -1 if r["effective"][sort] is None else -r["effective"][sort])
        return {"position": position, "sort": sort, "candidates": rows}

    async def _reviewable_report(self, iv_id: str) -> dict[str, Any]:
        """The latest report, which a review starts from: not_found without a readable one."""
        latest = await self.reports.get(iv_id)
        if latest is None or latest.get("unreadable"):
            raise Refusal(Reason.NOT_FOUND)
        return latest

    async def notifications(self, req: Request, iv_id: str) -> list[dict[str, Any]]:
        await self.require(req, Permission.INTERVIEW_VIEW, "notifications_view", iv_id)
        await self.interview_meta(req, iv_id)
        return await self.notifier.statuses(iv_id)

    async def read_report(self, req: Request, iv_id: str, version: int) -> dict[str, Any]:
        await self.require(req, Permission.INTERVIEW_VIEW, "report_view", iv_id)
        await self.interview_meta(req, iv_id)
        report = await self.reports.get(iv_id, version)
        if report is None:
            raise Refusal(Reason.NOT_FOUND)
        return report

    # --- changing -----------------------------------------------------------------------

    async def create(self, req: Request, body: Any) -> dict[str, Any]:
        await self.require(req, Permission.INTERVIEW_CREATE, "create")
        if isinstance(body, dict):
            body = {**body, "org": req.principal.org}  # never another organisation's
        try:
            spec = InterviewSpec.from_dict(body)
        except SpecError as exc:
            raise Refusal(f"bad_field:{exc}") from None
        now = self.clock()
        created = await create_interview(self.store, self.settings, spec, now)
        await self.candidates.log(
            created.interview_id, req.caller, "create", "ok", org=req.principal.org
        )
        expires = now + (spec.link_ttl_s or self.settings.link_ttl_s) * 1000
        await self.notifier.enqueue(
            created.interview_id, "invitation", {"link": created.link, "deadline_ms": expires}, now
        )
        return {"interview_id": created.interview_id, "token": created.token, "link": created.link}

    async def end(self, req: Request, iv_id: str, confirm: bool, note: str = "") -> Decision:
        await self.require(req, Permission.INTERVIEW_END, "end", iv_id)
        await self.interview_meta(req, iv_id)
        if not confirm:
            raise Refusal(Reason.CONFIRM_REQUIRED)
        now = self.clock()
        user = req.principal.user

        async def rule(snap: Snapshot, meta: dict[str, str]) -> Decision:
            return sm.settled(snap, now, lambda s: sm.end(s, now, user, note[:500]))

        def ended_by(meta: dict[str, str]) -> dict[str, str]:
            return {"ended_by": user, "ended_at_ms": str(now)}

        return await self._decide(
            iv_id, rule, req, "end", {"note": note[:500]}, meta_changes=ended_by
        )

    async def reset(self, req: Request, iv_id: str, confirm: bool) -> dict[str, Any]:
        await self.require(req, Permission.INTERVIEW_RESET, "reset", iv_id)
        await self.interview_meta(req, iv_id)
        if not confirm:
            raise Refusal(Reason.CONFIRM_REQUIRED)
        now = self.clock()
        token, token_sha = identity.new_token(iv_id)
        user = req.principal.user

        async def rule(snap: Snapshot, meta: dict[str, str]) -> Decision:
            ttl_ms = int(meta.get("link_ttl_s", self.settings.link_ttl_s)) * 1000
            return sm.settled(snap, now, lambda s: sm.reset(s, now, user, now + ttl_ms))

        def changes(meta: dict[str, str]) -> dict[str, str]:
            return {
                "token_sha": token_sha,
                "attempt": str(int(meta.get("attempt", 1)) + 1),
                "disconnects": "0",
                "exits": "0",
                "device": "",
                **HELP_ANSWERED,
            }

        decision = await self._decide(iv_id, rule, req, "reset", meta_changes=changes, archive=True)
        link = f"{self.settings.base_url}/i/{token}"
        await self.notifier.enqueue(
            iv_id, "reset", {"link": link, "deadline_ms": decision.snapshot.link_expires_ms}, now
        )
        return {
            "interview_id": iv_id,
            "state": str(decision.snapshot.state),
            "token": token,
            "link": link,
        }

    async def recording(self, req: Request, iv_id: str, q: int) -> bytes:
        """One answer's camera and microphone as WebM, assembled from the stored media."""
        from server.recording import assemble_webm

        await self.require(req, Permission.INTERVIEW_VIEW, "recording", iv_id)
        await self.interview_meta(req, iv_id)
        entries = await self.store.media(iv_id, q)
        if not entries:
            raise Refusal(Reason.NO_RECORDING)
        return await asyncio.to_thread(assemble_webm, entries)

    async def erase(self, req: Request, iv_id: str, confirm: bool) -> dict[str, Any]:
        """Erase on request (data.erase): the data key first, then the data (retention.py)."""
        from server import retention

        await self.require(req, Permission.DATA_ERASE, "erase", iv_id)
        await self.interview_meta(req, iv_id)
        if not confirm:
            raise Refusal(Reason.CONFIRM_REQUIRED)
        erased = await retention.erase(
            self.candidates, iv_id, req.caller, "request", wait_s=self.settings.erase_wait_s
        )
        if erased.refusal:
            raise Refusal(erased.refusal)
        # "files": whether Redis' own files were rewritten without it ("pending": not yet,
        # the rewrite goes on and the interview's detail shows how it ended)
        return {"interview_id": iv_id, "erased_ms": erased.erased_ms, "files": erased.files}

    async def retention(self, req: Request, days: int | None = None) -> dict[str, Any]:
        """The organisation's retention in days; ``days`` sets it (data.erase)."""
        org = req.principal.org
        if days is None:
            await self.require(req, Permission.INTERVIEW_VIEW, "retention_view")
        else:
            await self.require(req, Permission.DATA_ERASE, "retention_set")
            if not 1 <= days <= 3650:
                raise Refusal(Reason.BAD_FIELD)
            await self.store.set_retention_days(org, days)
            await self.store.log_org(
                org,
                req.caller.entry("retention_set", "ok", {"days": days}),
                self.clock(),
            )
        own = await self.store.retention_days(org)
        return {
            "org": org,
            "retention_days": own or self.settings.retention_days,
            "default": own is None,
        }

    async def org_profile(
        self,
        req: Request,
        display_name: str | None = None,
        time_zone: str | None = None,
        report_auto: bool | None = None,
        hr_contact: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """How reports show the organisation (its name and time zone), whether new
        interviews make their report by themselves, and whom candidates contact
        (``hr_contact``: name, phone, email, each optional); given values set them
        (user.manage, logged)."""
        org = req.principal.org
        contact = {f"hr_contact_{k}": v.strip() for k, v in (hr_contact or {}).items()}
        if display_name is None and time_zone is None and report_auto is None and not contact:
            await self.require(req, Permission.INTERVIEW_VIEW, "org_profile_view")
        else:
            await self.require(req, Permission.USER_MANAGE, "org_profile_set")
            if time_zone is not None and time_zone and not is_time_zone(time_zone):
                raise Refusal(
                    f"{Reason.BAD_FIELD}:time_zone must be an IANA name like Asia/Shanghai"
                )
            changed = {
                k: v
                for k, v in (("display_name", display_name), ("time_zone", time_zone))
                if v is not None
            }
            if report_auto is not None:
                changed["report_auto"] = "1" if report_auto else "0"
            changed.update(contact)
            await self.store.set_org_profile(org, changed)
            await self.store.log_org(
                org,
                req.caller.entry("org_profile_set", "ok", changed),
                self.clock(),
            )
        profile = await self.store.org_profile(org)
        return {
            "org": org,
            "display_name": profile["display_name"],
            "time_zone": profile["time_zone"] or DEFAULT_TIME_ZONE,
            "report_auto": await self.store.org_report_auto(org),
            "hr_contact": hr_contact_of(profile),
        }

    async def set_report_auto(self, req: Request, iv_id: str, on: bool) -> dict[str, Any]:
        """Switch the interview's automatic report on or off (report.generate, logged)."""
        await self.require(req, Permission.REPORT_GENERATE, "report_auto_set", iv_id)
        await self.interview_meta(req, iv_id)
        await self.store.set_meta_field(iv_id, "report_auto", "1" if on else "0")
        await self.candidates.log(
            iv_id, req.caller, "report_auto_set", "ok", {"on": on}, org=req.principal.org
        )
        return {"interview_id": iv_id, "report_auto": on}

    async def report_presentation(
        self, req: Request, report: dict[str, Any], lang: str, base: str = ""
    ) -> Presentation:
        """One language (``lang``, else the interview's), the organisation's name and zone."""
        profile = await self.store.org_profile(req.principal.org)
        if lang not in LANGS:
            # a version that does not open has no "lang": the interview's own, then zh-CN
            lang = str(report.get("lang") or "")
            if lang not in LANGS:
                lang = await self.store.contact_lang(str(report.get("interview_id", "")))
        return Presentation(
            lang=lang,
            org_name=profile["display_name"] or req.principal.org,
            time_zone=profile["time_zone"] or DEFAULT_TIME_ZONE,
            base=base,
        )

    async def grant_reentry(
        self, req: Request, iv_id: str, grant: bool, window_s: int | None
    ) -> Decision:
        await self.require(req, Permission.REENTRY_GRANT, "reentry_grant", iv_id)
        await self.interview_meta(req, iv_id)
        now = self.clock()
        user = req.principal.user

        async def rule(snap: Snapshot, meta: dict[str, str]) -> Decision:
            if not grant:
                return sm.settled(snap, now, lambda s: sm.revoke_reentry(s, now, user))
            window_ms = (
                window_s if window_s is not None else snap.reentry_window_ms // 1000
            ) * 1000
            return sm.settled(snap, now, lambda s: sm.grant_reentry(s, now, user, window_ms))

        action = "reentry_grant" if grant else "reentry_revoke"
        return await self._decide(
            iv_id,
            rule,
            req,
            action,
            {"window_s": window_s},
            meta_changes=(lambda meta: dict(HELP_ANSWERED)) if grant else None,
        )

    async def renew_link(self, req: Request, iv_id: str) -> dict[str, Any]:
        await self.require(req, Permission.INTERVIEW_CREATE, "link_resend", iv_id)
        await self.interview_meta(req, iv_id)
        now = self.clock()
        token, token_sha = identity.new_token(iv_id)
        user = req.principal.user

        async def rule(snap: Snapshot, meta: dict[str, str]) -> Decision:
            ttl_ms = int(meta.get("link_ttl_s", self.settings.link_ttl_s)) * 1000
            return sm.settled(snap, now, lambda s: sm.renew_link(s, now, user, now + ttl_ms))

        decision = await self._decide(
            iv_id,
            rule,
            req,
            "link_resend",
            meta_changes=lambda meta: {"token_sha": token_sha, **HELP_ANSWERED},
        )
        link = f"{self.settings.base_url}/i/{token}"
        deadline = decision.snapshot.link_expires_ms
        await self.notifier.enqueue(
            iv_id, "invitation", {"link": link, "deadline_ms": deadline}, now
        )
        return {"interview_id": iv_id, "token": token, "link": link}

    async def _decide(
        self, iv_id: str, rule: Rule, req: Request, action: str, detail: Any = None, **kw: Any
    ) -> Decision:
        async def unless_erased(snap: Snapshot, meta: dict[str, str]) -> Decision:
            # no data key, no identity hashes, no link: brought back, nobody could join it
            if meta.get("erased_ms"):
                return Decision(snap, refusal=Reason.INTERVIEW_ERASED)
            return await rule(snap, meta)

        decision = await self.candidates.decide(
            iv_id, unless_erased, req.caller, action, detail, **kw
        )
        if decision.refusal:
            raise Refusal(decision.refusal)
        return decision


def _snapshot(meta: dict[str, str]) -> Snapshot:
    return snapshot_from_hash(meta)


def _filter(
    entries: list[dict[str, Any]], action: str, since_ms: int, until_ms: int
) -> list[dict[str, Any]]:
    return [
        e
        for e in entries
        if (not action or e.get("action") == action)
        and (not since_ms or e["t"] >= since_ms)
        and (not until_ms or e["t"] <= until_ms)
    ]


def compare_row(summary: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """One candidate's line in the comparison (HRService.compare)."""
    scores = report.get("scores") or {}
    review = report.get("hr_review") or {}
    overrides = review.get("overrides") or {}
    dimensions: dict[str, Any] = {}
    effective: dict[str, float | None] = {}
    for name in DIMENSIONS:
        d = (scores.get("dimensions") or {}).get(name)
        d = d if isinstance(d, dict) else {}
        override = overrides.get(name) or {}
        evidence = d.get("evidence") or []
        dimensions[name] = {
            "machine": d.get("score"),
            "status": d.get("status") or scores.get("status") or "no_report",
            "override": override.get("score"),
            "quote": evidence[0]["quote"] if evidence else "",
        }
        effective[name] = override["score"] if override.get("score") is not None else d.get("score")
    known = [v for v in effective.values() if v is not None]
    effective["overall"] = round(sum(known) / len(known), 1) if known else None
    return {
        "interview_id": summary["interview_id"],
        "candidate": summary["candidate"],
        "state": summary["state"],
        "progress": summary["progress"],
        "report_version": report.get("version", 0),
        "scores_status": scores.get("status", "no_report"),
        "recommendation": (scores.get("recommendation") or {}).get("value", ""),
        "dimensions": dimensions,
        "effective": effective,
        "decision": review.get("decision"),
    }
