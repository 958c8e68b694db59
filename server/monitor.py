"""HR's live monitor socket (/ws/monitor, subprotocol interview-hub.monitor.v1).

A monitor watches interviews (or its whole organisation). Everything it is shown comes
from Redis streams with offsets, so a monitor that reconnects with the last ids it got
replays exactly what it missed. Each monitor reads with its own Redis connection
(XREAD BLOCK on the streams it watches) into a bounded queue. When the queue is full the
reader waits (the data stays in Redis); a monitor whose queue does not move for
``monitor_stall_s`` is closed with ``too_slow`` (4007). Nothing of it slows the hub or
anyone else: the candidate path never waits for a monitor.

A monitor whose session ends (logout, a disabled or deleted user, a lost permission) is
closed at once: what is queued for it is dropped, and only the refusal saying why and the
close follow what the socket already holds. Its session is read again before every command,
every ``READ_COUNT`` entries of a replay and every few seconds live.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from protocol import MONITOR_SUBPROTOCOL
from protocol.closecodes import CloseCode
from protocol.codec import ProtocolError, decode_monitor_client, encode
from protocol.messages import (
    Authenticate,
    Behind,
    EndDone,
    EndInterview,
    LiveChunk,
    LiveEvent,
    LiveMedia,
    Message,
    MonitorReady,
    Unwatch,
    Watch,
    Watching,
)
from protocol.permissions import Permission
from protocol.reasons import Reason
from server.accounts import Accounts, Principal, session_hash
from server.candidates import Refusal
from server.crypto import CryptoError, RecordCipher
from server.hr import HRService
from server.hr import Request as HRRequest
from server.hub import ConnectionsPerIP, handshake, header, peer_ip, refused
from server.metrics import LATENCY_BOUNDS, Histogram
from server.outbox import Outbox
from server.store import (
    STORE_AWAY,
    UNREADABLE,
    StoreRefused,
    iv_chunks,
    iv_events,
    iv_media,
    open_chunk,
    open_media,
    org_events,
    stream_part,
)
from server.store.monitor import StreamReader

log = logging.getLogger("interview_hub.monitor")
T = TypeVar("T")

READ_COUNT = 500  # entries per stream per XREAD
BLOCK_MS = 5_000


def _id_tuple(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


class MonitorHub:
    """ASGI app for /ws/monitor, and the registry the control channel reaches."""

    def __init__(
        self,
        hr: HRService,
        accounts: Accounts,
        redis_url: str,
        allowed_origins: set[str],
        max_queue: int = 2_000,
        stall_s: float = 10.0,
        auth_timeout_s: float = 15.0,
    ) -> None:
        self.hr = hr
        self.accounts = accounts
        self.redis_url = redis_url
        self.allowed_origins = allowed_origins
        self.per_ip: ConnectionsPerIP | None = None  # shared with the candidate hub (app.py)
        self.max_queue = max_queue
        self.stall_s = stall_s
        self.auth_timeout_s = auth_timeout_s
        self.connections: set[MonitorConnection] = set()
        # for /metrics: entry written to Redis -> queued for the socket; failed reads
        self.delivery_latency = Histogram(LATENCY_BOUNDS)
        self.read_errors = 0

    def on_control(self, data: dict[str, Any]) -> None:
        kind = data.get("kind")
        # sessions ended: one (logout), or all of a user's but one ("keep": a password
        # change), or all (logout everywhere, a reset, a delete, a disable: "reason" says)
        why = (
            Reason.ACCOUNT_DISABLED
            if data.get("reason") == Reason.ACCOUNT_DISABLED
            else Reason.NOT_LOGGED_IN
        )
        for conn in list(self.connections):
            p = conn.principal
            if p is None:
                continue
            if kind == "logout" and (
                p.session == data.get("hr_session")
                or (p.user == data.get("user") and p.session != data.get("keep"))
            ):
                conn.cut(CloseCode.LOGGED_OUT, refused(why, fatal=True))
            elif kind == "roles" and (p.user == data.get("user") or p.org == data.get("org")):
                conn.recheck_soon()  # permissions may be gone: look before sending more

    async def stop(self) -> None:
        for conn in list(self.connections):
            conn.close(CloseCode.INTERNAL_ERROR)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        ip = peer_ip(scope, frozenset(self.hr.settings.trusted_proxies))
        if not await handshake(
            scope, receive, send, self.allowed_origins, MONITOR_SUBPROTOCOL, self.per_ip, ip
        ):
            return
        try:
            await self._serve(scope, receive, send, ip)
        finally:
            if self.per_ip is not None:
                self.per_ip.give_back(ip)

    async def _serve(self, scope: dict[str, Any], receive: Any, send: Any, ip: str) -> None:
        cookie = ""
        for part in header(scope, b"cookie").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "ih_session":
                cookie = value
        conn = MonitorConnection(self, send, ip, header(scope, b"user-agent")[:256])
        self.connections.add(conn)
        try:
            await conn.serve(receive, cookie)
        finally:
            self.connections.discard(conn)


class MonitorConnection:
    def __init__(self, hub: MonitorHub, send: Any, ip: str, device: str) -> None:
        self.hub = hub
        self.ip = ip
        self.device = device
        self.principal: Principal | None = None
        # interview id ("" for the organisation) -> {stream key: last id delivered}
        self.watches: dict[str, dict[str, str]] = {}
        self._attempts: dict[str, tuple[str, int]] = {}  # interview -> (data key, attempt)
        self.outbox = Outbox(send, limit=hub.max_queue, stall_s=hub.stall_s)
        self._reader: asyncio.Task[None] | None = None
        self._live_reader: StreamReader | None = None
        self._checks: set[asyncio.Task[bool]] = set()
        self._cut = False  # closed at once because its session ended (not for not reading)

    # --- outgoing ---------------------------------------------------------------------------

    @property
    def _closed(self) -> bool:
        return self.outbox.closed

    def push(self, msg: Message) -> None:
        """Queue a reply (small, rare: not counted against the stream queue's bound)."""
        self.outbox.push(encode(msg))

    async def put(self, msg: Message) -> bool:
        """Queue a stream entry, waiting while the queue is full; False once closed."""
        if await self.outbox.put(encode(msg)):
            return True
        if not self.outbox.closed:
            log.warning(
                "monitor of %s too slow (queue full for %.1f s); closing",
                self.principal.user if self.principal else "?",
                self.hub.stall_s,
            )
            self.close(CloseCode.TOO_SLOW, refused(Reason.TOO_SLOW, fatal=True))
        return False

    def close(self, code: int, final: Message | None = None) -> None:
        self.outbox.close(code, encode(final) if final is not None else None)

    def cut(self, code: int, final: Message) -> None:
        """Close at once: the session ended, so nothing queued may still go to it (a live
        stream can have thousands of entries queued); ``final`` says why."""
        if not self.outbox.closed:
            self._cut = True
            self.outbox.close_now(code, encode(final))

    # --- life -------------------------------------------------------------------------------

    async def serve(self, receive: Any, cookie: str) -> None:
        sender = self.outbox.start()
        try:
            if cookie:
                await self._authenticate(cookie)
            loop = asyncio.get_running_loop()
            auth_deadline = loop.time() + self.hub.auth_timeout_s
            while True:
                incoming = asyncio.ensure_future(receive())
                timeout = None if self.principal else max(0.0, auth_deadline - loop.time())
                await asyncio.wait(
                    {incoming, sender}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if not incoming.done() and not sender.done():  # no auth in time
                    incoming.cancel()
                    self.close(
                        CloseCode.NOT_AUTHENTICATED, refused(Reason.NOT_LOGGED_IN, fatal=True)
                    )
                    return  # the close goes out in `finally`
                if not incoming.done():  # the sending side is over: closed, or given up
                    incoming.cancel()
                    if sender.cancelled() and not self._cut:
                        log.warning("monitor socket does not read; dropping it")
                    return
                event = incoming.result()
                if event["type"] == "websocket.disconnect":
                    return
                if self._closed:
                    continue
                data = event.get("bytes")
                if data is None:
                    self.push(refused(Reason.MALFORMED))
                    continue
                try:
                    msg = decode_monitor_client(data)
                except ProtocolError as exc:
                    self.push(refused(exc.reason, exc.msg_type))
                    continue
                await self._dispatch(msg)
        except Exception:
            log.exception("monitor socket failed")
            self.close(CloseCode.INTERNAL_ERROR, refused(Reason.INTERNAL_ERROR, fatal=True))
        finally:
            await self._stop_reader()
            if self._live_reader is not None:
                await self._live_reader.aclose()
            self.close(CloseCode.NORMAL)  # a no-op when a close is already queued
            await self.outbox.wait(5)
            failure = self.outbox.stop()
            if failure is not None:
                log.debug("monitor send failed: %r", failure)

    async def _authenticate(self, token: str) -> None:
        principal = await self.hub.accounts.principal(token)
        if principal is None:
            self.close(CloseCode.NOT_AUTHENTICATED, refused(Reason.NOT_LOGGED_IN, fatal=True))
            return
        if Permission.INTERVIEW_VIEW not in principal.permissions:
            reason = f"{Reason.PERMISSION_DENIED}:{Permission.INTERVIEW_VIEW}"
            self.close(CloseCode.NOT_AUTHENTICATED, refused(reason, fatal=True))
            return
        self.principal = principal
        self.push(MonitorReady(principal.user, principal.org, sorted(principal.permissions)))

    def recheck_soon(self) -> None:
        task = asyncio.create_task(self._still_allowed())
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _still_allowed(self) -> bool:
        """Whether the session still exists and may view; if not, the socket closes."""
        principal = await self._current()
        if principal is None:
            return False
        if Permission.INTERVIEW_VIEW not in principal.permissions:
            reason = f"{Reason.PERMISSION_DENIED}:{Permission.INTERVIEW_VIEW}"
            self.cut(CloseCode.NOT_AUTHENTICATED, refused(reason, fatal=True))
            return False
        return True

    async def _current(self) -> Principal | None:
        """Re-read the session before every command: logout and role changes count at once."""
        if self.principal is None:
            return None
        fresh = await self.hub.accounts.principal_for(self.principal.session)
        if fresh is None:
            user = await self.hub.accounts.user(self.principal.user)
            why = Reason.ACCOUNT_DISABLED if user.get("disabled_ms") else Reason.NOT_LOGGED_IN
            self.cut(CloseCode.LOGGED_OUT, refused(why, fatal=True))
        self.principal = fresh
        return fresh

    async def _dispatch(self, msg: Any) -> None:
        if type(msg) is Authenticate:
            if self.principal is None:
                await self._authenticate(msg.token)
            return
        principal = await self._current()
        if principal is None:
            if not self._closed:
                self.close(CloseCode.NOT_AUTHENTICATED, refused(Reason.NOT_LOGGED_IN, fatal=True))
            return
        req = HRRequest(principal, self.ip, self.device)
        try:
            if type(msg) is Watch:
                await self._watch(req, msg)
            elif type(msg) is Unwatch:
                self.watches.pop(msg.interview_id, None)
                await self._restart_reader()
            elif type(msg) is EndInterview:
                decision = await self.hub.hr.end(req, msg.interview_id, msg.confirm, msg.note)
                self.push(EndDone(msg.interview_id, str(decision.snapshot.state)))
        except Refusal as exc:
            self.push(refused(exc.reason, msg.TYPE))

    # --- watching ---------------------------------------------------------------------------

    async def _watch(self, req: HRRequest, msg: Watch) -> None:
        await self.hub.hr.require(req, Permission.INTERVIEW_VIEW, "watch", msg.interview_id)
        iv_id = msg.interview_id
        if iv_id:
            meta = await self.hub.hr.interview_meta(req, iv_id)
            streams = {iv_events(iv_id): msg.after_event, iv_chunks(iv_id): msg.after_chunk}
        else:
            streams = {org_events(req.principal.org): msg.after_event}
        # "From now" is fixed before the summary is read and before `watching` goes out:
        # an entry written meanwhile is then delivered live (it may also be in the summary)
        # rather than lost between the two.
        if iv_id:
            # the camera frames and audio seconds: live only (the recording is on the API)
            streams[iv_media(iv_id)] = ""
        given = {s for s, after in streams.items() if after}  # offsets the monitor named
        streams = {s: after or await self._now(s) for s, after in streams.items()}
        if iv_id:
            summary = self.hub.hr.summary(meta, self.hub.hr.clock())
            summary["answers"] = await self.hub.hr.answers(iv_id, meta)
        else:
            summary = {"org": req.principal.org}
        await self._stop_reader()  # replay first, then go live from where the replay ended
        events = iv_events(iv_id) if iv_id else org_events(req.principal.org)
        chunks = streams.get(iv_chunks(iv_id), "") if iv_id else ""
        self.push(Watching(iv_id, summary, streams[events], chunks))
        positions: dict[str, str] = {}
        for stream, after in streams.items():
            try:
                positions[stream] = await self._replay(iv_id, stream, after, stream in given)
            except StoreRefused:
                raise Refusal(Reason.BAD_FIELD) from None  # not a stream id Redis accepts
        self.watches[iv_id] = positions
        await self._restart_reader()

    async def _now(self, stream: str) -> str:
        """The id of the stream's last entry ("0-0" when empty): what "from now" means."""
        return await self.hub.hr.store.last_entry_id(stream) or "0-0"

    async def _replay(self, iv_id: str, stream: str, after: str, given: bool = True) -> str:
        """Send what ``stream`` holds after ``after``; return the id to read on from.
        ``given``: the monitor named the offset (else it is "now"): only then can it be
        one that the capped stream has trimmed away."""
        store = self.hub.hr.store
        if not after:
            return await self._now(stream)
        if after != "0" and given:
            try:
                mark = _id_tuple(after)
            except ValueError:
                raise Refusal(Reason.BAD_FIELD) from None
            first = await store.first_entry_id(stream)
            if first and _id_tuple(first) > mark and stream_part(stream) != "chunks":
                # the last entry this monitor saw has been trimmed away (event streams are
                # capped), so some it did not see may be gone too: it must reload the state
                self.push(Behind(iv_id, "events"))
                return await self._now(stream)
        position = "0-0" if after == "0" else after
        while True:
            rows = await store.entries_after(stream, position, READ_COUNT)
            if not rows:
                return position
            if not await self._still_allowed():  # a long replay: the session may have ended
                return position
            for entry_id, fields in rows:
                entry = await self._entry_or_none(iv_id, stream, entry_id, fields)
                if entry is not None and not await self.put(entry):
                    return position
                position = entry_id

    async def _entry_or_none(
        self, iv_id: str, stream: str, entry_id: str, f: dict[bytes, bytes]
    ) -> Message | None:
        """The entry as a message; None (logged) for a record that does not open (erased,
        or tampered with): the watch goes on."""
        try:
            return await self._entry(iv_id, stream, entry_id, f)
        except UNREADABLE as exc:
            log.warning("monitor skips %s %s: %s", stream, entry_id, exc)
            return None

    async def _entry(
        self, iv_id: str, stream: str, entry_id: str, f: dict[bytes, bytes]
    ) -> Message:
        if stream_part(stream) == "chunks":
            data = await self._open_chunk(iv_id, f)
            return LiveChunk(iv_id, entry_id, int(f[b"t"]), int(f[b"q"]), int(f[b"seq"]), data)
        if stream_part(stream) == "media":
            return LiveMedia(
                iv_id,
                entry_id,
                int(f[b"t"]),
                int(f[b"q"]),
                f[b"k"].decode(),
                int(f[b"lvl"]),
                await self._open_media(iv_id, f),
            )
        fact = json.loads(f[b"e"])
        source = f[b"iv"].decode() if b"iv" in f else iv_id
        kind = str(fact.pop("kind", ""))
        return LiveEvent(iv_id, source, entry_id, int(f[b"t"]), kind, fact)

    async def _open_chunk(self, iv_id: str, f: dict[bytes, bytes]) -> str | bytes:
        """A chunk's data, opened with the interview's data key (sealed at rest)."""
        return await self._open(iv_id, lambda cipher, attempt: open_chunk(cipher, attempt, f))

    async def _open_media(self, iv_id: str, f: dict[bytes, bytes]) -> bytes:
        """A media entry's data (a JPEG frame, a PCM second), opened likewise."""
        return await self._open(iv_id, lambda cipher, attempt: open_media(cipher, attempt, f))

    async def _open(self, iv_id: str, opener: Callable[[RecordCipher, int], T]) -> T:
        """Open a record with the interview's key and attempt, read once and cached; read
        again once when it does not open (a reset starts a new attempt under the same key)."""
        store = self.hub.hr.store
        for fresh in (False, True):
            if fresh or iv_id not in self._attempts:
                self._attempts[iv_id] = await store.data_key_and_attempt(iv_id)
            dek, attempt = self._attempts[iv_id]
            try:
                return opener(store.cipher_for(iv_id, dek), attempt)
            except CryptoError:
                if fresh:
                    raise
        raise AssertionError("unreachable")

    async def _stop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            # Cancel until it is really gone: on Python 3.11 a cancel that lands just as an
            # awaited write completes can be swallowed, and the XREAD would go on forever.
            while not reader.done():
                reader.cancel()
                await asyncio.wait({reader}, timeout=0.5)
                if not reader.done() and self._live_reader is not None:
                    await self._live_reader.break_read()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                reader.result()
        if self._live_reader is not None:
            # a cancelled XREAD leaves its connection mid-reply: start afresh
            await self._live_reader.aclose()
            self._live_reader = None

    async def _restart_reader(self) -> None:
        await self._stop_reader()
        if self.watches and not self._closed:
            self._reader = asyncio.create_task(self._read_live())

    async def _read_live(self) -> None:
        if self._live_reader is None:
            # its own connection, which XREAD BLOCK holds (without a socket timeout, which
            # could swallow our cancel: see _stop_reader)
            self._live_reader = StreamReader(self.hub.redis_url)
        owner = {s: iv for iv, positions in self.watches.items() for s in positions}
        loop = asyncio.get_running_loop()
        checked = loop.time()
        failing = False
        latency = self.hub.delivery_latency
        while not self._closed:
            if loop.time() - checked >= BLOCK_MS / 1000:
                # a revoked permission or an expired session stops the stream within seconds
                if not await self._still_allowed():
                    return
                checked = loop.time()
            streams = {
                s: pos for positions in self.watches.values() for s, pos in positions.items()
            }
            try:
                result = await self._live_reader.read(streams, READ_COUNT, BLOCK_MS)
            except STORE_AWAY as exc:
                self.hub.read_errors += 1
                if not failing:  # one line an outage, not one every half second
                    log.warning("monitor read failed (%s); retrying", exc)
                failing = True
                await asyncio.sleep(0.5)
                continue
            failing = False
            for stream, rows in result:
                iv_id = owner[stream]
                for rid, fields in rows:
                    entry = await self._entry_or_none(iv_id, stream, rid, fields)
                    if entry is not None:
                        if not await self.put(entry):
                            return
                        # the id's first part is Redis' clock (ms) when the entry was added
                        written_ms = int(rid.partition("-")[0])
                        latency.observe(max(time.time() - written_ms / 1000, 0.0))
                    self.watches[iv_id][stream] = rid


__all__ = ["MonitorHub", "session_hash"]
