"""The Starlette application: routes, and the lifespan that starts the hub's tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from protocol.answers import Answer, assemble
from protocol.interview import Decision
from protocol.reasons import Reason
from server import anchors, web
from server import http_models as m
from server.accounts import Accounts
from server.bodies import read_body
from server.candidates import Caller, CandidateService, Refusal
from server.headers import SecurityHeaders
from server.hr import HRService
from server.hr_api import HRApi
from server.hub import CandidateHub, peer_ip
from server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from server.metrics import HubView, metrics_allowed
from server.monitor import MonitorHub
from server.notify import Notifier, providers_from
from server.openapi import openapi_routes
from server.reports import Reports
from server.retention import run_purger
from server.scoring import scorer_for
from server.settings import Settings
from server.store import Store, StoreError
from server.supervisor import Supervisor
from server.sweeper import run_sweeper
from server.webhooks import AtsProvider, Webhooks

log = logging.getLogger("interview_hub.app")
TOKEN_CHARS = re.compile(r"[A-Za-z0-9._-]{1,200}")


SHUTDOWN_STEP_S = 30.0  # above the supervisor's own wait for its tasks


async def bounded_step(name: str, step: Awaitable[None]) -> None:
    """One step of the shutdown, given at most SHUTDOWN_STEP_S; one that does not finish
    is logged and left (cancelled, not awaited: it may not take the cancellation)."""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=SHUTDOWN_STEP_S)
    if not done:
        task.cancel()
        log.warning("shutdown: %s did not finish in %.0f s; going on", name, SHUTDOWN_STEP_S)
    elif not task.cancelled() and task.exception() is not None:
        log.error("shutdown: %s failed: %r", name, task.exception())


async def check_durability(store: Store, settings: Settings) -> bool:
    """For "fsync": whether to add WAITAOF to writes (else Redis must fsync every write)."""
    if settings.durability != "fsync":
        return False
    return await store.fsync_by_waitaof()


def _caller(request: Request, trusted: frozenset[str]) -> Caller:
    return Caller(
        ip=peer_ip(request.scope, trusted), device=request.headers.get("user-agent", "")[:256]
    )


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    """The hub's ASGI app. ``store`` defaults to one on ``settings.redis_url``."""
    if store is None:
        if not settings.redis_url:
            raise ValueError("create_app needs settings.redis_url or a store")
        store = Store.from_url(
            settings.redis_url,
            secret=settings.secret,
            master_keys=settings.master_keys,
            key_dir=settings.key_dir,
            events_maxlen=settings.events_maxlen,
        )
    service = CandidateService(store, settings)
    supervisor = Supervisor()
    hub = CandidateHub(store, service, settings, supervisor)
    accounts = Accounts(store, settings.session_ttl_s, settings)
    notifier = Notifier(
        store, settings, {**providers_from(settings), "ats": AtsProvider(store, settings)}
    )
    webhooks = Webhooks(store, settings, notifier)  # signed, to the organisation's ATS
    reports = Reports(store, scorer_for(settings), on_ready=[webhooks.report_ready])
    service.after_change += [reports.on_change, notifier.on_change]
    if settings.asr != "off":
        # imported only then: the model's libraries (numpy, CTranslate2) cost a hub that
        # does not transcribe a second at every start
        from server.transcribe import Transcription, check_engine

        check_engine(settings)  # a model selected but not installed: refused at start
        service.after_change.append(Transcription(store, settings).on_change)
    hr = HRService(service, reports, notifier, webhooks)
    # signed checkpoints of the operation logs, anchored outside Redis (server/anchors.py)
    checkpointer = anchors.checkpointer_for(
        settings, store.take_unanchored, store.give_back_unanchored
    )
    hr.log_anchors = anchors.AnchorBook(anchors.anchor_dir(settings), checkpointer.signer.public)
    hr_api = HRApi(hr, accounts)
    monitors = MonitorHub(
        hr,
        accounts,
        settings.redis_url or "",
        hub.allowed_origins,
        settings.monitor_max_queue,
        settings.monitor_stall_s,
        settings.join_timeout_s,
    )
    hub.control_handlers.append(monitors.on_control)
    monitors.per_ip = hub.per_ip  # one count of sockets per address, whichever kind

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.ping()
        wait_fsync = await check_durability(store, settings)
        await hub.start(wait_fsync=wait_fsync)
        sweep_s = settings.sweep_interval_s
        supervisor.start("sweeper", lambda: run_sweeper(service, sweep_s, hub.hub_id))
        supervisor.start("notifications", notifier.run)
        supervisor.start("retention", lambda: run_purger(service, settings))
        supervisor.start("log-checkpoints", checkpointer.run)
        if settings.asr != "off" and settings.asr_in_hub:
            from server.transcribe import Transcriber

            transcriber = Transcriber(store, settings, reports=reports)
            supervisor.start("transcriber", transcriber.run)
        try:
            yield
        finally:
            hub.draining = True  # /readyz: 503 to whatever still asks while this hub stops
            # every step bounded: a hub that was asked to stop stops (one that hangs here is
            # named in the log), and its clients resume on another hub
            await bounded_step("monitors", monitors.stop())
            await bounded_step("sockets and tasks", hub.stop())
            # waits for the log entries still being appended, then anchors them
            await bounded_step("log appends", store.close())
            await bounded_step("log checkpoints", checkpointer.flush())

    async def health(request: Request, *, ready: bool) -> Response:
        """Liveness (/healthz): Redis answers and every background task is running.
        Readiness (/readyz): that, the hub's lease is held and it is not stopping (it may
        take sockets). ``reasons`` names each thing that makes it 503 (SPEC §10.3)."""
        body: dict[str, Any] = {"status": "ok", "redis": "ok", "sockets": len(hub.connections)}
        body |= supervisor.health()
        reasons = [f"task_down:{name}" for name in sorted(supervisor.down)]
        reasons += [f"task_degraded:{name}" for name in sorted(supervisor.degraded)]
        try:
            await store.ping()
        except StoreError as exc:
            body["redis"] = str(exc)
            reasons.append("redis_unreachable")
        if ready:
            body["lease"] = "held" if hub.lease_held else "lapsed"
            body["draining"] = hub.draining
            if not hub.lease_held:
                reasons.append("lease_lapsed")
            if hub.draining:
                reasons.append("draining")
        body["log_anchors"] = checkpointer.failing or "ok"
        body["reasons"] = reasons
        if reasons:
            body["status"] = "degraded"
        return m.answer(m.Health, body, 503 if reasons else 200)

    async def healthz(request: Request) -> Response:
        """
        summary: "Liveness: Redis answers and every background task runs (else 503)."
        """
        return await health(request, ready=False)

    async def readyz(request: Request) -> Response:
        """
        summary: "Readiness: that, and this hub holds its lease, so it may take sockets."
        """
        return await health(request, ready=True)

    metrics_view = HubView(hub, monitors, store, supervisor)

    async def metrics(request: Request) -> Response:
        """
        summary: "Prometheus metrics (text format): bearer HUB_METRICS_TOKEN, or loopback."
        """
        allowed = metrics_allowed(
            settings.metrics_token,
            request.headers.get("authorization", ""),
            request.client.host if request.client else "",
            request.headers.keys(),
        )
        if not allowed:
            answer = m.refused(Reason.NOT_LOGGED_IN)
            answer.headers["www-authenticate"] = 'Bearer realm="metrics"'
            return answer
        return Response(await metrics_view.render(), media_type=METRICS_CONTENT_TYPE)

    async def candidate_exit(request: Request) -> Response:
        """
        summary: "Candidate exit without the websocket (confirm=false previews, true exits)."
        """
        caller = _caller(request, hub.trusted_proxies)
        try:
            body = await read_body(request, m.ExitBody)
            verified = await service.verify(body.token, body.identity, caller, "exit")
            iv_id = verified.interview_id
            caller = replace(caller, proof=verified.proof)
            decision: Decision
            if body.confirm:
                decision = await service.confirm_exit(iv_id, None, caller)
            else:
                decision = await service.request_exit(iv_id, None, caller)
            if decision.refusal:
                raise Refusal(decision.refusal)
        except Refusal as exc:
            return m.refused(exc.reason)
        snap = decision.snapshot
        if body.confirm:
            partial = next((f["q"] for f in decision.facts if f["kind"] == "answer_closed"), -1)
            done = {
                "state": snap.state,
                "progress": snap.progress.to_wire(),
                "partial_q": partial,
                "reentry_allowed": snap.may_reenter,
                "reentry_until_ms": snap.reentry_until_ms,
            }
            return m.answer(m.ExitDone, done)
        preview = await service.exit_preview(iv_id, snap)
        preview["progress"] = preview["progress"].to_wire()
        return m.answer(m.ExitPreview, {"state": snap.state, **preview})

    async def candidate_centre(request: Request) -> Response:
        """
        summary: "The verified candidate's interviews, with what they can do next."
        """
        caller = _caller(request, hub.trusted_proxies)
        try:
            body = await read_body(request, m.CandidateProof)
            verified = await service.verify(body.token, body.identity, caller, "centre")
        except Refusal as exc:
            return m.refused(exc.reason)
        items = await service.centre(body.identity, verified, body.device_id[:64])
        name = store.candidate_name(verified.interview_id, verified.meta)
        days = await service.retention_days(verified.meta.get("org", "default"))
        notice = {"retention_days": days}
        contact = await service.hr_contact(verified.meta.get("org", "default"))
        centre = {"candidate": name, "interviews": items, "notice": notice, "hr_contact": contact}
        return m.answer(m.Centre, centre)

    async def candidate_help(request: Request) -> Response:
        """
        summary: "The candidate asks HR for a reset or more time (told once while pending)."
        """
        caller = _caller(request, hub.trusted_proxies)
        try:
            body = await read_body(request, m.HelpBody)
            verified = await service.verify(body.token, body.identity, caller, "help_request")
            caller = replace(caller, proof=verified.proof)
            asked = await service.ask_help(verified, body.kind, caller)
        except Refusal as exc:
            return m.refused(exc.reason)
        return m.answer(m.HelpAsked, asked)

    async def candidate_consent(request: Request) -> Response:
        """
        summary: "Record the candidate's choices after the notice: review, camera."
        """
        caller = _caller(request, hub.trusted_proxies)
        try:
            body = await read_body(request, m.ConsentBody)
            verified = await service.verify(body.token, body.identity, caller, "consent")
            caller = replace(caller, proof=verified.proof)
            camera = "on" if body.camera else "off"
            recorded = await service.record_consent(
                verified.interview_id, body.review, camera, body.notice_version, caller
            )
        except Refusal as exc:
            return m.refused(exc.reason)
        return m.answer(m.ConsentRecord, recorded.to_record())

    async def media_config(request: Request) -> Response:
        """
        summary: "The STUN/TURN servers the candidate page gives its RTCPeerConnection."
        """
        from server.media import ice_servers

        return m.answer(m.MediaConfig, {"iceServers": ice_servers(settings.ice_servers)})

    async def candidate_answer(request: Request) -> Response:
        """
        summary: "The open question's saved answer, so a resume on a new device shows it."
        """
        caller = _caller(request, hub.trusted_proxies)
        try:
            body = await read_body(request, m.CandidateProof)
            verified = await service.verify(body.token, body.identity, caller, "answer")
        except Refusal as exc:
            return m.refused(exc.reason)
        iv_id = verified.interview_id
        loaded = await store.snapshot(iv_id)
        if loaded is None or str(loaded[0].state) != "in_progress":
            return m.refused(Reason.NOT_IN_PROGRESS)
        q = loaded[0].current_q
        answer = assemble(await store.chunks(iv_id)).get(q, Answer())
        return m.answer(m.SavedAnswer, m.SavedAnswer(q=q, seq=answer.last_seq, text=answer.text))

    routes: list[Any] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        # text for Prometheus, not the JSON API: not in /openapi.json (SPEC §10.8)
        Route("/metrics", metrics, methods=["GET"], include_in_schema=False),
        Route("/api/candidate/exit", candidate_exit, methods=["POST"]),
        Route("/api/candidate/centre", candidate_centre, methods=["POST"]),
        Route("/api/candidate/consent", candidate_consent, methods=["POST"]),
        Route("/api/candidate/help", candidate_help, methods=["POST"]),
        Route("/api/candidate/answer", candidate_answer, methods=["POST"]),
        Route("/api/candidate/media-config", media_config, methods=["GET"]),
        WebSocketRoute("/ws/candidate", hub),
        WebSocketRoute("/ws/monitor", monitors),
        *hr_api.routes(),
    ]
    routes += web.routes(settings.web_root)
    routes += openapi_routes(routes)
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)])
    app.state.hub = hub
    app.state.accounts = accounts
    app.state.hr = hr
    app.state.service = service
    app.state.store = store
    return app


__all__ = ["create_app"]
