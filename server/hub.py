"""The candidate websocket: decode, ask the candidate service, send what it answered.

A raw ASGI app (no per-message framework objects on the hot path). One
``CandidateConnection`` per socket: a reader loop handles messages in order, chunks go to
the shared ``ChunkWriter`` and are acknowledged when Redis has them, and a sender task
drains a bounded outbox so a slow client never blocks the writer or anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from protocol import SUBPROTOCOL, SUBPROTOCOL_V2
from protocol.closecodes import CloseCode
from protocol.codec import Limits, ProtocolError, decode_client, encode
from protocol.interview import Decision, JoinMode, Snapshot, State
from protocol.limits import TokenBucket
from protocol.messages import (
    MONITOR_CLIENT_TYPES,
    AnswerSaved,
    CancelExit,
    ChunkAcked,
    Completed,
    ConfirmExit,
    Ended,
    Exited,
    ExitPreviewed,
    FinishAnswer,
    Join,
    Joined,
    MediaAnswer,
    MediaOffer,
    MediaState,
    MediaStop,
    Message,
    Ping,
    Pong,
    Progress,
    QuestionStarted,
    Refused,
    RequestExit,
    SendChunk,
    TakenOver,
)
from protocol.reasons import Reason, messages
from protocol.session import OnRefusal, append_outcome, close_for_state, on_refusal
from server.candidates import Caller, CandidateService, Refusal
from server.crypto import RecordCipher, chunk_purpose
from server.media import MediaSession, ice_servers
from server.noise import NoisyEvents
from server.outbox import Outbox
from server.settings import Settings
from server.store import CONTROL_CHANNEL, Store, StoreError
from server.supervisor import Supervisor
from server.writer import ChunkWriter

log = logging.getLogger("interview_hub.hub")
REFUSED_HANDSHAKES = NoisyEvents(log, "websocket handshakes refused")


def refused(
    reason: str, refused_type: str = "", expected_seq: int = 0, fatal: bool = False
) -> Refused:
    return Refused(reason, messages(reason), refused_type, expected_seq, fatal)


def header(scope: Mapping[str, Any], name: bytes) -> str:
    for k, v in scope.get("headers", ()):
        if k == name:
            return str(v.decode("latin-1"))
    return ""


def peer_ip(scope: Mapping[str, Any], trusted: frozenset[str]) -> str:
    """The client's address for the log: X-Forwarded-For is believed only from a trusted
    proxy (HUB_TRUSTED_PROXIES), and only up to the first hop that is not one."""
    client = scope.get("client") or ("", 0)
    ip = str(client[0])
    if ip in trusted:
        hops = [h.strip() for h in header(scope, b"x-forwarded-for").split(",") if h.strip()]
        for hop in reversed(hops):
            ip = hop
            if hop not in trusted:
                break
    return ip


async def deny(scope: dict[str, Any], send: Any, reason: str) -> None:
    """Refuse the handshake with HTTP 403, with the reason as JSON when the server can."""
    if "websocket.http.response" in scope.get("extensions", {}):
        body = json.dumps({"reason": reason, "message": messages(reason)}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "websocket.http.response.start", "status": 403, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": CloseCode.POLICY_VIOLATION})


class ChunkBudget:
    """How fast one interview's chunks are read on this hub, in chunks and in bytes (shared
    by every socket of the interview here, so taking it over again and again gains nothing)."""

    def __init__(self, settings: Settings) -> None:
        self.count = TokenBucket(settings.chunks_per_s, settings.chunk_burst)
        self.bytes = TokenBucket(settings.chunk_bytes_per_s, settings.chunk_bytes_burst)
        self.sockets = 0

    def charge(self, now: float, size: int) -> float:
        """Charge one chunk of ``size`` bytes; seconds to wait before reading on."""
        return max(self.count.owe(now), self.bytes.owe(now, size))


class ConnectionsPerIP:
    """Open websockets per client address in this process, candidate and monitor alike."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # 0: no limit
        self.open: dict[str, int] = {}

    def take(self, ip: str) -> bool:
        count = self.open.get(ip, 0)
        if self.limit and count >= self.limit:
            return False
        self.open[ip] = count + 1
        return True

    def give_back(self, ip: str) -> None:
        count = self.open.get(ip, 0) - 1
        if count > 0:
            self.open[ip] = count
        else:
            self.open.pop(ip, None)


async def handshake(
    scope: dict[str, Any],
    receive: Any,
    send: Any,
    origins: set[str],
    subprotocol: str | tuple[str, ...],
    per_ip: ConnectionsPerIP | None = None,
    ip: str = "",
) -> str:
    """Accept the websocket if its Origin is allowed, it speaks one of ``subprotocol`` (the
    first offered of ours, in our order, is chosen and returned) and its address has a
    connection left (then the caller must ``per_ip.give_back(ip)``); "" when refused."""
    connect = await receive()
    if connect["type"] != "websocket.connect":
        return ""
    ours = (subprotocol,) if isinstance(subprotocol, str) else subprotocol
    offered = scope.get("subprotocols", ())
    chosen = next((p for p in ours if p in offered), "")
    origin = header(scope, b"origin")
    refusal = ""
    if origin and origin.rstrip("/") not in origins:
        # a browser page of another site (cross-site websocket hijacking): no handshake
        refusal = Reason.ORIGIN_NOT_ALLOWED
    elif not chosen:
        refusal = Reason.SUBPROTOCOL_REQUIRED
    elif per_ip is not None and not per_ip.take(ip):
        refusal = Reason.TOO_MANY_CONNECTIONS
    if refusal:
        # anyone can cause these at will: a DEBUG line each, counts at most once a minute
        REFUSED_HANDSHAKES.note(refusal, ip)
        await deny(scope, send, refusal)
        return ""
    try:
        await send({"type": "websocket.accept", "subprotocol": chosen})
    except BaseException:
        # the client vanished mid-handshake: its place is given back here, as the caller
        # only gives it back for an accepted socket
        if per_ip is not None:
            per_ip.give_back(ip)
        raise
    return chosen


class CandidateHub:
    """Every candidate socket of this process, the chunk writer and the control listener."""

    def __init__(
        self,
        store: Store,
        service: CandidateService,
        settings: Settings,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.store = store
        self.service = service
        self.settings = settings
        self.supervisor = supervisor or Supervisor()
        self.limits = Limits(max_message_bytes=settings.max_message_bytes)
        self.writer = ChunkWriter(
            store,
            max_chunks_per_answer=settings.max_chunks_per_answer,
            max_answer_bytes=settings.max_answer_bytes,
            clock=service.clock,
        )
        self.hub_id = uuid.uuid4().hex[:12]
        self.connections: dict[str, CandidateConnection] = {}  # by session id
        self.control_handlers: list[Any] = []  # other sockets' control handlers (monitors)
        # disconnects that could not be recorded (Redis away): retried until they are, so
        # no interview stays held by a session that no socket has
        self.unrecorded: dict[str, tuple[str, Caller]] = {}  # session -> (interview, caller)
        self.lease_held = False
        self.lease_errors = 0  # renewals that failed (Redis away): /metrics
        # stopping: /readyz answers 503 and /metrics says so (set by app.py's shutdown)
        self.draining = False
        self._reclaims_due = 0  # rounds of checking our sockets after the lease lapsed
        self.trusted_proxies = frozenset(settings.trusted_proxies)
        self.allowed_origins = {
            o.rstrip("/") for o in (settings.base_url, *settings.allowed_origins)
        }
        self.per_ip = ConnectionsPerIP(settings.max_connections_per_ip)
        self._budgets: dict[str, ChunkBudget] = {}

    def chunk_budget(self, iv_id: str) -> ChunkBudget:
        """The interview's chunk budget on this hub; give it back with ``release_budget``."""
        budget = self._budgets.get(iv_id)
        if budget is None:
            budget = self._budgets[iv_id] = ChunkBudget(self.settings)
        budget.sockets += 1
        return budget

    def release_budget(self, iv_id: str) -> None:
        budget = self._budgets.get(iv_id)
        if budget is not None:
            budget.sockets -= 1
            if budget.sockets <= 0:
                del self._budgets[iv_id]

    async def start(self, *, wait_fsync: bool = False) -> None:
        self.writer.wait_fsync = wait_fsync
        self.writer.on_degraded = lambda why: self.supervisor.report_degraded("chunk-writer", why)
        self.writer.on_recovered = lambda: self.supervisor.report_recovered("chunk-writer")
        await self.store.hub_alive(self.hub_id, self.settings.hub_lease_s)
        self.lease_held = True
        self.supervisor.start("chunk-writer", self.writer.run)
        self.supervisor.start("control-listener", self._listen_control)
        self.supervisor.start("lease", self._keep_lease)
        self.supervisor.start("idle-sockets", self._close_idle)

    async def stop(self) -> None:
        for conn in list(self.connections.values()):
            conn.close(CloseCode.INTERNAL_ERROR)  # the client resumes on another hub
        await self.supervisor.stop()
        with contextlib.suppress(StoreError):
            await self.store.hub_gone(self.hub_id)

    async def _close_idle(self) -> None:
        """Close joined sockets that sent nothing for ``idle_timeout_s`` (4010)."""
        limit = self.settings.idle_timeout_s
        if not limit:
            return
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(max(limit / 10, 0.05), 30.0))
            now = loop.time()
            for conn in list(self.connections.values()):
                if conn.interview_id and now - conn.last_seen > limit:
                    conn.close(CloseCode.IDLE, refused(Reason.IDLE_TIMEOUT, fatal=True))

    async def _keep_lease(self) -> None:
        """Keep this hub's lease (other hubs release the sockets of a hub whose lease
        lapsed), and record the disconnects that failed while Redis was away."""
        while True:
            await asyncio.sleep(self.settings.hub_lease_s / 3)
            try:
                held = await self.store.hub_alive(self.hub_id, self.settings.hub_lease_s)
            except StoreError as exc:
                self.lease_errors += 1
                if self.lease_held:
                    log.warning("lease not renewed (%s); retrying", exc)
                    self.lease_held = False
                continue
            if not held:
                # It lapsed (Redis away or this process paused that long): other hubs may have
                # released our sockets meanwhile. Find out which, and tell those to come back;
                # and once more a round later (another hub may have been half-way through).
                log.warning("lease had lapsed; checking %d sockets", len(self.connections))
                self._reclaims_due = 2
            elif not self.lease_held:
                log.warning("lease renewed")
            self.lease_held = True
            if self._reclaims_due:
                try:
                    await self._reclaim_after_lapse()
                    self._reclaims_due -= 1
                except StoreError as exc:
                    log.warning("checking the sockets after the lapse failed (%s); retrying", exc)
                    continue
            await self._record_unrecorded()

    async def _reclaim_after_lapse(self) -> None:
        """Sockets still holding their interview are registered again (so a later death of
        this hub is noticed for them); those whose hold was released are closed with a
        retryable code: no other device took them, so they resume (never 4002)."""
        live = [c for c in self.connections.values() if c.interview_id and not c._closed]
        holders = await self.store.sessions_of([c.interview_id for c in live])
        for conn, holder in zip(live, holders, strict=True):
            if holder == conn.session:
                await self.store.hub_holds(self.hub_id, conn.interview_id, conn.session)
            elif not holder:
                conn.close_interrupted()
            # another session holds it: a real takeover, whose notice closes this socket

    async def _record_unrecorded(self) -> None:
        for session, (iv_id, caller) in list(self.unrecorded.items()):
            try:
                await self.service.disconnect(iv_id, session, caller)
                await self.store.hub_released(self.hub_id, iv_id, session)
            except StoreError as exc:
                log.warning("disconnect of %s still not recorded (%s)", session, exc)
                return
            except Exception:  # a refusal (the interview is gone) or our bug: stop trying
                log.exception("recording the disconnect of %s failed", session)
            self.unrecorded.pop(session, None)

    async def _listen_control(self) -> None:
        """Control messages for sockets of this process (takeover, HR end, HTTP exit)."""
        while True:
            pubsub = self.store.control_subscription()
            try:
                await pubsub.subscribe(CONTROL_CHANNEL)
                async for item in pubsub.listen():
                    try:
                        data = json.loads(item["data"])
                        if not isinstance(data, dict):
                            raise ValueError("not an object")
                    except ValueError:
                        # garbage from another Redis writer is not a fault of this hub
                        log.warning(
                            "control message skipped, not a JSON object: %r", item.get("data")
                        )
                        continue
                    try:
                        conn = self.connections.get(str(data.get("session", "")))
                        if conn is not None:
                            conn.on_control(data)
                        for handler in self.control_handlers:
                            handler(data)
                    except Exception:
                        # one bad message must not stop the channel every socket relies on
                        log.exception("control message not handled: %r", item.get("data"))
            except StoreError as exc:
                log.warning("control channel lost (%s); resubscribing", exc)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """ASGI entry point for /ws/candidate."""
        ip = peer_ip(scope, self.trusted_proxies)
        chosen = await handshake(
            scope,
            receive,
            send,
            self.allowed_origins,
            (SUBPROTOCOL_V2, SUBPROTOCOL),
            self.per_ip,
            ip,
        )
        if not chosen:
            return
        try:
            conn = CandidateConnection(self, send, Caller(ip=ip))
            conn.media_enabled = chosen == SUBPROTOCOL_V2
            await conn.serve(receive)
        finally:
            self.per_ip.give_back(ip)


class CandidateConnection:
    def __init__(self, hub: CandidateHub, send: Any, caller: Caller) -> None:
        self.hub = hub
        self.service = hub.service
        self.caller = caller
        # the hub's id first: if this process dies, its sessions can be found and released
        self.session = f"{hub.hub_id}.{uuid.uuid4().hex}"
        self.interview_id = ""
        self._claimed = ""  # the interview this socket asked to join (set before it is applied)
        self.cipher: RecordCipher | None = None  # set by the join
        self.media_enabled = False  # v2: camera and microphone over WebRTC (server/media.py)
        self.media: MediaSession | None = None
        self._media_task: asyncio.Task[None] | None = None
        self.attempt = 1
        self.questions: list[str] = []
        self.current_q = -1
        self.acked: dict[int, int] = {}
        self.gap_reported: dict[int, int] = {}
        self.sent_max: dict[int, int] = {}  # per question: the highest seq handed to the writer
        self.answer_closed_for_chunks: set[int] = set()  # full or timed out: no gap to report
        self.inflight = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self.outbox = Outbox(
            send, limit=hub.settings.max_outbox_messages, stall_s=hub.settings.client_stall_s
        )
        self._timer: asyncio.TimerHandle | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._bad_messages = 0
        settings = hub.settings
        self._commands = TokenBucket(settings.commands_per_s, settings.command_burst)
        self._chunks: ChunkBudget | None = None  # the interview's, shared on this hub (join)
        self._useless_chunks = 0  # duplicates of acked chunks, chunks for closed questions
        self.last_seen = asyncio.get_running_loop().time()  # the last frame (idle timeout)

    # --- outgoing -------------------------------------------------------------------------

    @property
    def _closed(self) -> bool:
        return self.outbox.closed

    def push(self, msg: Message) -> None:
        if self.outbox.closed:
            return
        self.outbox.push(encode(msg))
        if self.outbox.over_limit:
            self._not_reading()

    def _not_reading(self) -> None:
        """The client does not read (SPEC §5.5): what is queued for it is dropped and 1008
        goes out at once; it resumes after reconnecting."""
        if self.outbox.close_now(CloseCode.POLICY_VIOLATION):
            log.info("session %s does not read its messages; closed with 1008", self.session)
            self._cancel_timer()

    def close(self, code: int, final: Message | None = None) -> None:
        """Send ``final`` (if any) after everything queued, then close with ``code``."""
        if self.outbox.close(code, encode(final) if final is not None else None):
            self._cancel_timer()

    # --- the socket's life ----------------------------------------------------------------

    def close_interrupted(self, msg_type: str = "") -> None:
        """This socket lost its hold without another device taking it (its hub was taken
        for dead during an outage): a retryable close, and the client resumes."""
        log.warning("session %s was released while connected; asking it to resume", self.session)
        self.close(
            CloseCode.INTERNAL_ERROR,
            refused(Reason.CONNECTION_INTERRUPTED, msg_type, fatal=True),
        )

    async def serve(self, receive: Any) -> None:
        self.outbox.start()
        try:
            await self._read_loop(receive)
        except StoreError as exc:
            # Redis away (each retried a few times already): one line, and a retryable close
            log.warning("candidate socket %s: redis unavailable (%s); closing", self.session, exc)
            self.close(CloseCode.INTERNAL_ERROR, refused(Reason.SERVICE_UNAVAILABLE, fatal=True))
        except Exception:
            log.exception("candidate socket %s failed", self.session)
            self.close(CloseCode.INTERNAL_ERROR, refused(Reason.INTERNAL_ERROR, fatal=True))
        finally:
            self._cancel_timer()
            signalling = self._media_task is not None and not self._media_task.done()
            if self.media is not None or signalling:
                # exit, end, takeover or a lost socket: every frame received so far is kept
                with contextlib.suppress(Exception):
                    await self._stop_media("closed", "socket_closed")
            self.hub.connections.pop(self.session, None)
            if self._chunks is not None:
                self.hub.release_budget(self.interview_id)
            if self._claimed:
                # a no-op unless this socket still holds the interview (then it is a
                # disconnect, whatever closed it: never an exit, SPEC §8.1)
                try:
                    await self.service.disconnect(self._claimed, self.session, self.caller)
                    await self.hub.store.hub_released(self.hub.hub_id, self._claimed, self.session)
                except Exception as exc:
                    # Redis away: the lease task records it when Redis is back (and if this
                    # hub dies first, the others release it through the lease)
                    log.warning("disconnect of %s not recorded yet (%s)", self.session, exc)
                    self.hub.unrecorded[self.session] = (self._claimed, self.caller)
            self.close(CloseCode.NORMAL)  # a no-op when a close is already queued
            await self.outbox.wait(5)
            failure = self.outbox.stop()
            if failure is not None:
                # the client vanished mid-send: nothing to tell anyone (retrieved, not logged)
                log.debug("send to %s failed: %r", self.session, failure)

    async def _read_loop(self, receive: Any) -> None:
        loop = asyncio.get_running_loop()
        join_deadline = loop.time() + self.hub.settings.join_timeout_s  # from connect, fixed
        while True:
            if not self.interview_id and not self._closed:
                try:
                    event = await asyncio.wait_for(receive(), join_deadline - loop.time())
                except TimeoutError:
                    self.close(CloseCode.JOIN_TIMEOUT, refused(Reason.NOT_JOINED, fatal=True))
                    continue
            else:
                if not self._closed and not await self.outbox.wait_for_room():
                    self._not_reading()  # replies pile up and the peer takes none
                    continue
                # (a peer that reads gets its replies before the next frame is handled)
                event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            if self._closed:
                continue  # draining until the peer acknowledges our close
            data = event.get("bytes")
            if data is None:
                self.last_seen = loop.time()
                self._bad(refused(Reason.MALFORMED))  # text frames are not part of v1
                continue
            try:
                msg = decode_client(data, self.hub.limits, media=self.media_enabled)
            except ProtocolError as exc:
                self.last_seen = loop.time()
                self._bad(refused(exc.reason, exc.msg_type))
                if exc.msg_type in MONITOR_CLIENT_TYPES:
                    await self._log_forbidden(exc.msg_type)
                continue
            if type(msg) is not Ping:  # a heartbeat is not the candidate doing something
                self.last_seen = loop.time()
            await self._dispatch(msg)

    async def _log_forbidden(self, msg_type: str) -> None:
        """An HR command on a candidate socket is an attempt to do HR's work: refused (above)
        and written down, in the server log and in the interview's operation log."""
        log.warning(
            "candidate socket %s (%s) sent the HR-only command %r: refused",
            self.session,
            self.caller.ip,
            msg_type,
        )
        if self.interview_id:
            await self.service.log(
                self.interview_id, self.caller, f"hr_command:{msg_type}", Reason.UNKNOWN_TYPE
            )

    def _useless(self, answer: Message, past_allowance: Refused | None = None) -> None:
        """A chunk that cannot add anything (a duplicate of an acked one, one for a closed
        question): answered as always up to HUB_MAX_USELESS_CHUNKS a socket; past that each
        one is a bad message (the 11th closes with 4005)."""
        self._useless_chunks += 1
        if self._useless_chunks <= self.hub.settings.max_useless_chunks:
            self.push(answer)
        else:
            refusal = past_allowance or answer
            assert isinstance(refusal, Refused)
            self._bad(refusal)

    def _bad(self, refusal: Refused) -> None:
        self._bad_messages += 1
        if self._bad_messages > self.hub.settings.max_bad_messages:
            self.close(CloseCode.BAD_MESSAGES, dataclasses.replace(refusal, fatal=True))
        else:
            self.push(refusal)

    async def _dispatch(self, msg: Any) -> None:
        if type(msg) is SendChunk:
            if self._chunks is not None:
                # Flow control, not refusal: over the interview's rate, this socket is not
                # read until the budget allows (the sender's own TCP window does the rest).
                # Nothing is lost and an honest burst is only slowed; a flood costs nothing.
                wait = self._chunks.charge(asyncio.get_running_loop().time(), len(msg.data))
                if wait > 0:
                    await asyncio.sleep(wait)
            self._on_chunk(msg)
            return
        # Every other command reads and logs in Redis: a bucket per socket, refused past it
        if not self._commands.take(asyncio.get_running_loop().time()):
            self._bad(refused(Reason.RATE_LIMITED, msg.TYPE))
            return
        if type(msg) is Join:
            await self._on_join(msg)
            return
        if not self.interview_id:
            self._bad(refused(Reason.NOT_JOINED, msg.TYPE))
            return
        if type(msg) is Ping:
            self.push(Pong())
            return
        if type(msg) is FinishAnswer:
            await self._on_finish(msg)
        elif type(msg) is RequestExit:
            await self._on_exit_request()
        elif type(msg) is CancelExit:
            decision = await self.service.cancel_exit(self.interview_id, self.session, self.caller)
            if decision.refusal:
                await self._refuse(decision, msg.TYPE)
        elif type(msg) is ConfirmExit:
            await self._on_exit_confirm()
        elif type(msg) is MediaOffer:
            await self._on_media_offer(msg)
        elif type(msg) is MediaStop:
            await self._stop_media("stopped_by_client", msg.reason)

    # --- media (v2) -------------------------------------------------------------------------

    async def _on_media_offer(self, msg: MediaOffer) -> None:
        # Signalling runs beside the read loop (ICE gathering may wait seconds for STUN):
        # chunks and commands go on meanwhile. A new offer replaces the old connection.
        await self._stop_media("", "")
        self._media_task = asyncio.create_task(self._answer_media(msg))

    async def _answer_media(self, msg: MediaOffer) -> None:
        settings = self.hub.settings
        assert self.cipher is not None
        media = MediaSession(
            self.hub.store,
            self.interview_id,
            self.attempt,
            self.cipher,
            # nothing is stored once the socket is closing (exit, end, takeover)
            current_q=lambda: -1 if self._closed else self.current_q,
            push=self.push,
            on_state=self._media_event,
            fps=settings.media_fps,
            max_width=settings.media_width,
            max_entries=settings.max_media_entries,
            connect_timeout_s=settings.media_connect_timeout_s,
            ice=ice_servers(settings.ice_servers),
        )
        self.media = media
        try:
            sdp = await media.answer(msg.sdp)
        except Exception as exc:  # a malformed SDP is the client's: tell it and HR why
            log.info("media offer of %s refused: %r", self.session, exc)
            self.media = None
            await media.close()
            self.push(MediaState("failed", "bad_offer"))
            await self._media_event("failed", "bad_offer")
            return
        self.push(MediaAnswer(sdp))

    async def _media_event(self, state: str, reason: str) -> None:
        """HR sees what happens to the camera and microphone (and why they are off)."""
        await self.hub.store.add_event(
            self.interview_id, {"kind": "media", "state": state, "reason": reason}
        )

    async def _stop_media(self, state: str, reason: str) -> None:
        task, self._media_task = self._media_task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        media, self.media = self.media, None
        if media is not None:
            await media.close()
        if state and (media is not None or state != "closed"):  # "closed": only what was open
            await self._media_event(state, reason)

    # --- join -----------------------------------------------------------------------------

    async def _on_join(self, msg: Join) -> None:
        if self.interview_id:
            self.push(refused(Reason.ALREADY_JOINED, msg.TYPE))
            return
        self.caller = Caller(
            ip=self.caller.ip, device=msg.device[:256], device_id=msg.device_id[:64]
        )
        try:
            verified = await self.service.verify(msg.token, msg.identity, self.caller, "join")
        except Refusal as exc:
            self.close(CloseCode.JOIN_REFUSED, refused(exc.reason, msg.TYPE, fatal=True))
            return
        iv_id = verified.interview_id
        self.caller = dataclasses.replace(self.caller, proof=verified.proof)  # for the log
        # Register before the join is applied, in this process (so a takeover right after it
        # finds us) and in Redis (so that if anything fails from here on, or this hub dies,
        # the session is released: a disconnect of a session that does not hold is a no-op)
        self.hub.connections[self.session] = self
        self._claimed = iv_id
        await self.hub.store.hub_holds(self.hub.hub_id, iv_id, self.session)
        decision = await self.service.join(iv_id, self.session, self.caller)
        if decision.refusal:
            self.hub.connections.pop(self.session, None)
            self.close(CloseCode.JOIN_REFUSED, refused(decision.refusal, msg.TYPE, fatal=True))
            return
        self.interview_id = iv_id
        self._chunks = self.hub.chunk_budget(iv_id)
        meta = verified.meta
        # chunks are sealed here, before they leave the process (encryption at rest)
        self.cipher = self.hub.store.cipher_for(iv_id, meta.get("dek", ""))
        self.attempt = int(meta.get("attempt", 1))
        self.questions = json.loads(meta["questions"])
        snap = decision.snapshot
        self.push(
            Joined(
                interview_id=iv_id,
                mode=str(decision.mode),
                candidate=self.hub.store.candidate_name(iv_id, meta),
                position=meta.get("position", ""),
                progress=snap.progress,
                second_entry=snap.may_reenter,
                reentry_window_s=snap.reentry_window_ms // 1000,
                resume_grace_s=snap.resume_grace_ms // 1000,
            )
        )
        if decision.mode is JoinMode.REENTER and not any(
            f["kind"] == "answer_closed" for f in decision.facts
        ):
            # the expiry of the interrupted interview that HR reopened was written down
            # before this join: the question it closed is reported all the same (SPEC §8.2)
            closed = await self.service.closed_while_away(iv_id, snap)
            if closed is not None:
                self.push(closed)
        await self._after_change(decision, question_acked=True)

    # --- chunks ---------------------------------------------------------------------------

    def _on_chunk(self, msg: SendChunk) -> None:
        if not self.interview_id:
            self._bad(refused(Reason.NOT_JOINED, msg.TYPE))
            return
        if msg.q != self.current_q:
            refusal = refused(Reason.NOT_CURRENT_QUESTION, msg.TYPE)
            if msg.q == self.current_q - 1:
                self.push(refusal)  # the question just closed (its time ran out): a race
            else:
                self._useless(refusal)
            return
        if msg.seq < 1:
            self.push(refused(Reason.BAD_FIELD, msg.TYPE))
            return
        limit = self.hub.settings.max_chunk_bytes
        data = msg.data
        # UTF-8 takes at most 4 bytes a character: only long text needs encoding to measure
        if len(data) > limit or (
            type(data) is str and len(data) * 4 > limit and len(data.encode()) > limit
        ):
            self.push(refused(Reason.CHUNK_TOO_LARGE, msg.TYPE))
            return
        acked = self.acked.get(msg.q, 0)
        if msg.seq <= acked:
            # a resend of what this socket was told is stored: acked again, from memory (no
            # write); harmless (SPEC §6.3) until it becomes a flood
            self._useless(ChunkAcked(msg.q, acked), refused(Reason.RATE_LIMITED, msg.TYPE))
            if self.inflight == 0:
                self._report_missing(msg.q, acked)
            return
        if msg.seq == self.gap_reported.get(msg.q, -2) + 1:
            self.gap_reported.pop(msg.q)  # the client resends as told: a new gap is news
        if msg.seq > self.sent_max.get(msg.q, 0):
            self.sent_max[msg.q] = msg.seq
        self.inflight += 1
        self._drained.clear()
        plain = data.encode() if isinstance(data, str) else data
        assert self.cipher is not None  # a joined socket has one
        sealed = self.cipher.seal(chunk_purpose(self.attempt, msg.q, msg.seq), plain)
        self.hub.writer.submit(self, msg.q, msg.seq, "s" if type(data) is str else "b", sealed)

    def chunks_written(self, q: int, count: int, result: Any) -> None:
        """The writer's answer for ``count`` chunks of ``q`` (see append_chunks.lua)."""
        self.inflight -= count
        if self.inflight == 0:
            self._drained.set()
        if isinstance(result, Exception):
            # the writer gave up after ~10 s of retries (and said so once in the log)
            self.close(
                CloseCode.INTERNAL_ERROR, refused(Reason.SERVICE_UNAVAILABLE, "chunk", fatal=True)
            )
            return
        raw = result[2] if len(result) > 2 else ""
        detail = raw.decode() if isinstance(raw, bytes) else str(raw)
        last = int(result[1])
        outcome = append_outcome(
            int(result[0]), last, self.acked.get(q, 0), detail, idle=self.inflight == 0
        )
        if outcome.ack is not None:
            self.acked[q] = max(outcome.ack, self.acked.get(q, 0))
            self.push(ChunkAcked(q, outcome.ack))
        # A gap: chunks above it were dropped and must be sent again. Said once per gap (not
        # once per chunk behind it), but again once the client has resent (its resend may
        # itself have been dropped behind a newer chunk), and when everything this socket
        # sent is written and some of it is still missing (nothing in flight will fill it).
        if outcome.check_gap:
            self._report_missing(q, last)
        if outcome.answer_closed:
            self.answer_closed_for_chunks.add(q)  # no resend can add to it now
        if outcome.refusal is not None:
            self.push(refused(outcome.refusal, "chunk"))
        if outcome.close is CloseCode.TAKEN_OVER:
            self.close(CloseCode.TAKEN_OVER, TakenOver(""))
        elif outcome.interrupted:
            self.close_interrupted("chunk")
        elif outcome.state is not None:
            self._spawn(self._close_for_state(outcome.state, "chunk"))

    def _report_missing(self, q: int, last: int) -> None:
        """``seq_gap{last+1}`` if this socket sent chunks of ``q`` above ``last`` that are
        not stored (dropped behind a gap), unless it was told so since it last resent."""
        if q in self.answer_closed_for_chunks or self.gap_reported.get(q) == last:
            return
        if last < self.sent_max.get(q, 0):
            self.gap_reported[q] = last
            self.push(refused(Reason.SEQ_GAP, "chunk", expected_seq=last + 1))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _close_for_state(self, state: str, msg_type: str) -> None:
        """The interview left in_progress under this socket: close the way its new state
        says, whoever learned of it first (the control message, a write, a command)."""
        if self._closed:
            return
        exited = None
        if state == State.EXITED:
            # an exit confirmed over HTTP, seen by this socket before its control message
            try:
                exited = await self.service.exited_message(self.interview_id)
            except Exception as exc:
                log.warning("reading the exit of %s failed (%s)", self.interview_id, exc)
        code = close_for_state(state, exited_known=exited is not None)
        if code is CloseCode.ENDED:
            self.close(code, Ended("", ""))
        elif code is CloseCode.EXITED and exited is not None:
            self.close(code, exited)
        else:
            self.close(CloseCode.NORMAL, refused(Reason.NOT_IN_PROGRESS, msg_type, fatal=True))

    async def drain(self) -> None:
        """Wait until every chunk this socket sent has been written (or refused)."""
        await self._drained.wait()

    # --- answers, time limits ---------------------------------------------------------------

    async def _on_finish(self, msg: FinishAnswer) -> None:
        await self.drain()
        decision = await self.service.finish_answer(
            self.interview_id, self.session, msg.q, msg.last_seq, self.caller
        )
        if decision.refusal:
            expected = 0
            if decision.refusal == Reason.ANSWER_INCOMPLETE:
                expected = await self.hub.store.stored_seq(self.interview_id, msg.q) + 1
            await self._refuse(decision, msg.TYPE, expected)
            return
        await self._after_change(decision)

    def _start_timer(self, q: int, deadline_ms: int) -> None:
        self._cancel_timer()
        loop = asyncio.get_running_loop()
        # a little after the deadline: the loop's clock and the wall clock may disagree
        delay = max(0.0, (deadline_ms - self.service.clock()) / 1000) + 0.005
        self._timer = loop.call_later(delay, lambda: asyncio.ensure_future(self._on_time_up(q)))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _on_time_up(self, q: int) -> None:
        if self._closed or q != self.current_q:
            return
        try:
            await self.drain()  # what arrived in time is part of the answer
            decision = await self.service.time_up(self.interview_id, q, self.caller)
            if decision.changed:
                await self._after_change(decision)
            elif decision.snapshot.current_q == q and decision.snapshot.question_deadline_ms:
                self._start_timer(q, decision.snapshot.question_deadline_ms)  # fired early
        except Exception:
            log.exception("time limit of q%d failed for %s", q, self.session)
            self.close(CloseCode.INTERNAL_ERROR, refused(Reason.INTERNAL_ERROR, fatal=True))

    async def _after_change(self, decision: Decision, question_acked: bool = False) -> None:
        """Tell the candidate what the decision closed and opened."""
        snap = decision.snapshot
        for fact in decision.facts:
            if fact["kind"] == "answer_closed":
                self.push(AnswerSaved(fact["q"], fact["status"], fact["last_seq"], snap.progress))
        if snap.state is State.COMPLETED:
            self.current_q = -1
            self.close(CloseCode.COMPLETED, Completed(snap.progress))
            return
        if snap.current_q != self.current_q or question_acked:
            await self._send_question(snap)

    async def _send_question(self, snap: Snapshot) -> None:
        q = snap.current_q
        self.current_q = q
        acked = await self.hub.store.stored_seq(self.interview_id, q)
        self.acked[q] = acked
        self.push(
            QuestionStarted(
                q=q,
                text=self.questions[q],
                total=snap.total,
                time_limit_s=snap.time_limits_s[q],
                deadline_ms=snap.question_deadline_ms,
                acked_seq=acked,
            )
        )
        if snap.question_deadline_ms:
            self._start_timer(q, snap.question_deadline_ms)
        else:
            self._cancel_timer()

    # --- exit -----------------------------------------------------------------------------

    async def _on_exit_request(self) -> None:
        decision = await self.service.request_exit(self.interview_id, self.session, self.caller)
        if decision.refusal:
            await self._refuse(decision, RequestExit.TYPE)
            return
        preview = await self.service.exit_preview(self.interview_id, decision.snapshot)
        self.push(ExitPreviewed(**preview))

    async def _on_exit_confirm(self) -> None:
        await self.drain()  # the partial answer is saved before the exit is acknowledged
        decision = await self.service.confirm_exit(self.interview_id, self.session, self.caller)
        if decision.refusal:
            await self._refuse(decision, ConfirmExit.TYPE)
            return
        snap = decision.snapshot
        partial = next((f["q"] for f in decision.facts if f["kind"] == "answer_closed"), -1)
        self.close(
            CloseCode.EXITED,
            Exited(snap.progress, partial, snap.may_reenter, snap.reentry_until_ms),
        )

    # --- refusals and control messages ----------------------------------------------------

    async def _refuse(self, decision: Decision, msg_type: str, expected_seq: int = 0) -> None:
        reason = decision.refusal or Reason.INTERNAL_ERROR
        action = on_refusal(reason)
        if action is OnRefusal.TAKEN_OVER:
            self.close(CloseCode.TAKEN_OVER, TakenOver(""))
        elif action is OnRefusal.INTERRUPTED:
            self.close_interrupted(msg_type)
        elif action is OnRefusal.CLOSE_FOR_STATE:
            await self._close_for_state(str(decision.snapshot.state), msg_type)
        else:
            self.push(refused(reason, msg_type, expected_seq))

    def on_control(self, data: dict[str, Any]) -> None:
        kind = data.get("kind")
        if kind == "taken_over":
            self.close(CloseCode.TAKEN_OVER, TakenOver(str(data.get("device", ""))))
        elif kind == "ended":
            self.close(CloseCode.ENDED, Ended(str(data.get("by", "")), str(data.get("note", ""))))
        elif kind == "exited":
            p = data.get("progress") or {}
            progress = Progress(p.get("answered", 0), p.get("partial", 0), p.get("total", 0))
            until = int(data.get("reentry_until_ms", 0))
            partial = int(data.get("partial_q", -1))
            self.close(CloseCode.EXITED, Exited(progress, partial, bool(until), until))
        else:
            self.close(CloseCode.NORMAL, refused(Reason.NOT_IN_PROGRESS, fatal=True))
