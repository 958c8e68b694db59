"""The HTTP listener's own defences: time limits and caps on connections that have not
sent a whole request, and the process' open-files limit.

uvicorn bounds the wait *between* requests (keep-alive) but not the time a client takes to
*send* one: a connection that sends nothing, its headers a byte a minute (slowloris) or its
body likewise holds a socket and a file descriptor for as long as it likes. Here every
phase of a connection has a deadline (``docs/settings.md``):

    opened ──first byte──▶ request head ──head complete──▶ body ──body complete──▶ app
      │ http_first_byte_timeout_s │ http_header_timeout_s │ http_body_timeout_s
      ▼                           ▼                       ▼
    closed                    408, closed             408 (if no answer started), closed

and after each answer the keep-alive wait (``http_keep_alive_s``) until the next request's
first byte. A websocket handshake is an HTTP request head like any other, so the header
limit covers it; once accepted, the socket's own limits apply (join timeout, pings).

The deadlines live in the protocol object (``GuardedHttpProtocol``, uvicorn's httptools
protocol with timers added at its parser callbacks) rather than in the app: the app never
sees a connection before its head is complete, and a route that does not read its body
would otherwise let a client trickle that body for ever (every byte cancels uvicorn's
keep-alive timer). The timers are only re-armed at those callbacks, never by arbitrary
bytes, so sending blank lines does not keep a connection alive either.

A connection is *waiting* from its opening, or from the end of its previous answer, until
its whole request (head and body) is in. Waiting connections are capped per process and
per address (``max_waiting_connections``, ``max_waiting_connections_per_ip``); when a cap
is reached the **oldest** waiting connection (of that address; for the cap in all, of the
address with the most) is closed to make room. Closing the oldest rather than refusing the
newest is what keeps a flood of half-open connections from starving others: the newest
client sends its request in milliseconds and is served, and a flood only pushes out its
own. Addresses in ``HUB_TRUSTED_PROXIES`` have no per-address cap (every client behind a
proxy shares its address).

Each of these closes is a DEBUG line, with counts at most once a minute (INFO for the
time limits, which a browser's unused pre-connection also meets; WARNING for a full cap),
so an outsider cannot flood the log.
"""

from __future__ import annotations

import contextlib
import logging
import resource
from asyncio import TimerHandle, Transport
from collections import OrderedDict
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.noise import NoisyEvents
from server.settings import Settings

log = logging.getLogger("interview_hub.listener")

REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 16\r\nconnection: close\r\n\r\nRequest Timeout\n"
)
# the listening socket accepts this many connections per wake-up before any is looked at:
# with a low open-files limit the backlog and the waiting cap must leave room between them
FD_SHARE = 4


class ConnectionGuard:
    """The waiting connections of this process, per address and oldest first.

    Over the per-address cap, that address' oldest waiting connection is closed. Over the
    cap in all, the oldest one of the address with the most waiting connections: a flood
    from a few addresses pushes out its own, not other people's. (Addresses are kept in
    buckets by how many they have, so the busiest is found at once however many there are.)
    """

    def __init__(self, settings: Settings, max_waiting: int) -> None:
        self.settings = settings
        self.max_waiting = max_waiting  # 0: no cap
        self.max_waiting_per_ip = settings.max_waiting_connections_per_ip
        self.exempt = frozenset(settings.trusted_proxies)
        self.per_ip: dict[str, OrderedDict[GuardedHttpProtocol, None]] = {}
        self.by_count: dict[int, dict[str, None]] = {}  # n -> the addresses with n waiting
        self.most = 0  # the largest n in by_count
        self.total = 0
        # a browser's unused pre-connection times out too: INFO; a full cap is a flood
        self.timeouts = NoisyEvents(log, "closed: request not sent in time", logging.INFO)
        self.evictions = NoisyEvents(log, "waiting connections closed to make room")

    def enter(self, conn: GuardedHttpProtocol) -> None:
        """``conn`` waits for a request; make room first if a cap is reached."""
        ip = conn.peer_ip
        if conn in self.per_ip.get(ip, ()):
            return
        if self.max_waiting_per_ip and ip not in self.exempt:
            while len(self.per_ip.get(ip, ())) >= self.max_waiting_per_ip:
                self.evict(next(iter(self.per_ip[ip])), "evicted_per_ip")
        if self.max_waiting:
            while self.total >= self.max_waiting:
                busiest = next(iter(self.by_count[self.most]))
                self.evict(next(iter(self.per_ip[busiest])), "evicted")
        mine = self.per_ip.setdefault(ip, OrderedDict())
        self._recount(ip, len(mine), len(mine) + 1)
        mine[conn] = None
        self.total += 1

    def leave(self, conn: GuardedHttpProtocol) -> None:
        ip = conn.peer_ip
        mine = self.per_ip.get(ip)
        if mine is None or conn not in mine:
            return
        del mine[conn]
        self.total -= 1
        self._recount(ip, len(mine) + 1, len(mine))
        if not mine:
            del self.per_ip[ip]

    def evict(self, conn: GuardedHttpProtocol, why: str) -> None:
        self.leave(conn)  # now, not once the close is done: the count must drop at once
        conn.give_up(why)

    def _recount(self, ip: str, before: int, after: int) -> None:
        """Move ``ip`` from the bucket of ``before`` waiting connections to ``after``'s."""
        if before:
            bucket = self.by_count[before]
            del bucket[ip]
            if not bucket:
                del self.by_count[before]
        if after:
            self.by_count.setdefault(after, {})[ip] = None
        if after > self.most:
            self.most = after
        elif before == self.most and before not in self.by_count:
            self.most = after  # counts move by one: the next bucket down is the busiest
        # (when the last address goes, most becomes 0 and by_count is empty)


def waiting_cap(settings: Settings, fd_limit: int) -> int:
    """``max_waiting_connections``, or a share of a low open-files limit: waiting
    connections must never take the descriptors that served ones need."""
    room = max(16, fd_limit // FD_SHARE)
    return min(settings.max_waiting_connections or room, room)


def listen_backlog(fd_limit: int) -> int:
    """uvicorn's default backlog (2048), or a share of a low open-files limit: the loop
    accepts every queued connection before it looks at any of them."""
    return max(16, min(2048, fd_limit // FD_SHARE))


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for every phase of a request and a
    place among the waiting connections (see the module's docstring)."""

    guard: ClassVar[ConnectionGuard]

    # narrower than asyncio's BaseTransport, as in uvicorn's own (which ignores it likewise)
    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.peer_ip = self.client[0] if self.client else ""
        self._deadline: TimerHandle | None = None
        self._phase = ""
        self._arm(self.guard.settings.http_first_byte_timeout_s, "no_request")
        self.guard.enter(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.guard.leave(self)
        super().connection_lost(exc)

    # --- the phases, at the parser's callbacks ------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.guard.settings.http_header_timeout_s, "slow_headers")

    def on_headers_complete(self) -> None:
        if self.parser.should_upgrade() and self._should_upgrade():
            self._disarm()  # a websocket: its own limits apply once it is accepted
            self.guard.leave(self)
        else:
            self._arm(self.guard.settings.http_body_timeout_s, "slow_body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._phase == "slow_body":  # (not when its answer went first: then it waits)
            self._disarm()
            self.guard.leave(self)  # the whole request is in: the app has it now
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:
            # ours instead of uvicorn's, which any byte (a blank line) cancels for good
            self._unset_keepalive_if_required()
            self._arm(self.guard.settings.http_keep_alive_s, "keep_alive")
            self.guard.enter(self)

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        self.guard.leave(self)
        super().handle_websocket_upgrade()

    def _unsupported_upgrade_warning(self) -> None:
        # an outsider's request (Upgrade: h2c…) and answered as a plain request: no WARNING
        self.guard.timeouts.note("unsupported_upgrade", self.peer_ip)

    # --- timers -------------------------------------------------------------------------

    def _arm(self, seconds: float, phase: str) -> None:
        """Enter ``phase``, to be over within ``seconds`` (0: no limit)."""
        self._disarm()
        self._phase = phase
        if seconds > 0:
            self._deadline = self.loop.call_later(seconds, self.give_up, phase)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = ""

    def give_up(self, why: str) -> None:
        """Close the connection: its time ran out (``why``) or a cap made room."""
        self._disarm()
        if self.transport.is_closing():
            return
        if why.startswith("evicted"):
            self.guard.evictions.note(why, self.peer_ip)
        elif why != "keep_alive":  # an idle keep-alive connection ends as uvicorn's would
            self.guard.timeouts.note(why, self.peer_ip)
        cycle = self.cycle
        if why == "slow_headers" or (
            why == "slow_body" and cycle is not None and not cycle.response_started
        ):
            # nothing is sent for this request yet: say why, as nginx does
            self.transport.write(REQUEST_TIMEOUT)
        if cycle is not None and not cycle.response_complete:
            # the app (if it has the request) reads a disconnect, and sends nothing more
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def http_protocol(settings: Settings, fd_limit: int) -> type[GuardedHttpProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)``, with this process' guard."""
    guard = ConnectionGuard(settings, waiting_cap(settings, fd_limit))
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"guard": guard})


class OutsiderNoise(logging.Filter):
    """uvicorn's WARNINGs that any client can cause at will (a garbled request) become
    DEBUG lines and a counted WARNING at most once a minute."""

    MESSAGES = frozenset({"Invalid HTTP request received."})

    def __init__(self) -> None:
        super().__init__()
        self.events = NoisyEvents(log, "requests refused as not HTTP")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in self.MESSAGES:
            self.events.note("invalid_http")
            return False
        return True


UNLIMITED_FILES = 1 << 20  # what an unlimited soft limit counts as (Linux' usual nr_open)


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft open-files limit to the hard one; (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    after = resource.getrlimit(resource.RLIMIT_NOFILE)[0]

    def counted(limit: int) -> int:
        return UNLIMITED_FILES if limit == resource.RLIM_INFINITY else limit

    return counted(soft), counted(after)


def describe_limits(settings: Settings, before: int, after: int) -> str:
    """The one start-up line about open files and waiting connections."""
    files = f"raised from {before} to {after}" if after > before else f"{after}"
    per_ip = settings.max_waiting_connections_per_ip or "no cap"
    return (
        f"open files limit {files}; at most {waiting_cap(settings, after)} connections "
        f"waiting for a request ({per_ip} per address)"
    )


__all__ = [
    "ConnectionGuard",
    "GuardedHttpProtocol",
    "OutsiderNoise",
    "describe_limits",
    "http_protocol",
    "listen_backlog",
    "raise_fd_limit",
]
