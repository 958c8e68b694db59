"""The HTTP listener's time limits and caps (server/listener.py), with raw sockets against
a real hub process: connections that send nothing, send their head or body a byte at a
time, or idle between requests are closed by the hub; a flood of them cannot starve other
clients; the open-files limit is raised at start.

Every wait is for the hub to close the socket (it reads end-of-file), bounded by a
generous outer limit; no test measures a duration.
"""

from __future__ import annotations

import contextlib
import random
import resource
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from client.candidate import CandidateClient
from server.listener import ConnectionGuard
from server.settings import Settings
from server.store.embedded import EmbeddedRedis
from tests.conftest import PHONE, Hub, start_hub

OUTER_S = 60.0  # far above every limit the hubs below are given: only a hang reaches it
TRICKLE_S = 0.2  # how often a slow client sends its next byte

QUICK = {
    "HUB_HTTP_FIRST_BYTE_TIMEOUT_S": "1",
    "HUB_HTTP_HEADER_TIMEOUT_S": "1",
    "HUB_HTTP_BODY_TIMEOUT_S": "1",
    "HUB_HTTP_KEEP_ALIVE_S": "1",
}


@pytest.fixture(scope="module")
def quick_hub(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    """A hub whose every listener limit is one second."""
    hub = start_hub(redis_server.url, tmp_path_factory.mktemp("quick"), **QUICK)
    yield hub
    hub.stop()


def connect(hub: Hub) -> socket.socket:
    return socket.create_connection(("127.0.0.1", hub.port), timeout=OUTER_S)


def read_until_closed(sock: socket.socket, trickle: bytes = b"") -> bytes:
    """Everything the hub sends until it closes the connection; meanwhile, if ``trickle``
    is given, send it a byte at a time as a slow client would. Fails after OUTER_S."""
    received = bytearray()
    deadline = time.monotonic() + OUTER_S
    sock.setblocking(False)
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(TRICKLE_S if trickle else 1.0):
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    return bytes(received)
                if not data:
                    return bytes(received)
                received += data
            elif trickle:
                try:
                    sock.send(trickle[:1])
                except (BrokenPipeError, ConnectionResetError):
                    return bytes(received)
                trickle = trickle[1:] or trickle  # the last byte again and again
    raise AssertionError(f"the hub kept the connection open for {OUTER_S} s")


def test_a_connection_that_sends_nothing_is_closed(quick_hub: Hub) -> None:
    """A TCP connection that never sends a byte is closed after HUB_HTTP_FIRST_BYTE_TIMEOUT_S, with nothing sent to it."""
    with connect(quick_hub) as sock:
        assert read_until_closed(sock) == b""


@pytest.mark.parametrize("path", ["/healthz", "/ws/candidate"])
def test_a_request_head_sent_a_byte_at_a_time_gets_408(quick_hub: Hub, path: str) -> None:
    """Slowloris: a request head (also a websocket handshake) still incomplete after HUB_HTTP_HEADER_TIMEOUT_S, however busy its sender, is answered 408 and closed."""
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Slow: ".encode()
    with connect(quick_hub) as sock:
        sock.sendall(head)
        answer = read_until_closed(sock, trickle=b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_a_body_sent_a_byte_at_a_time_gets_408(quick_hub: Hub) -> None:
    """Slow body: a body still incomplete after HUB_HTTP_BODY_TIMEOUT_S is answered 408 and closed, and the app logs no traceback for the body it lost."""
    head = b"POST /api/candidate/centre HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
    with connect(quick_hub) as sock:
        sock.sendall(head + b'{"token": "')
        answer = read_until_closed(sock, trickle=b"x" * 5000)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert quick_hub.errors() == [] and "ClientDisconnect" not in quick_hub.log()


def test_a_body_trickled_to_a_route_that_ignores_it_is_cut_off(quick_hub: Hub) -> None:
    """A route answers without reading the body; the rest of it, trickled, does not keep the connection open (the body limit holds after the answer)."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
    with connect(quick_hub) as sock:
        sock.sendall(head)
        answer = read_until_closed(sock, trickle=b"x" * 5000)
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_blank_lines_do_not_keep_an_idle_connection_open(quick_hub: Hub) -> None:
    """After an answer, a client that only sends blank lines (which cancel uvicorn's own keep-alive timer) is still closed after HUB_HTTP_KEEP_ALIVE_S."""
    with connect(quick_hub) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(sock, trickle=b"\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.count(b"HTTP/1.1") == 1


def test_a_quick_keep_alive_client_is_served_again(quick_hub: Hub) -> None:
    """The limits do not get in a normal client's way: several requests on one kept-alive connection are all answered."""
    with httpx.Client(base_url=quick_hub.http, timeout=OUTER_S) as http:
        for _ in range(5):
            assert http.get("/healthz").status_code == 200


@contextlib.contextmanager
def idle_connections(hub: Hub, count: int, sent: bytes = b"") -> Iterator[list[socket.socket]]:
    """``count`` connections that send ``sent`` and then nothing (the hub may close some
    at once)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            socks.append(connect(hub))
            if sent:
                socks[-1].sendall(sent)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def wait_until_open_at_most(socks: list[socket.socket], most: int) -> int:
    """Wait until the hub has closed all but ``most`` of ``socks``; how many stay open."""
    open_ = set(socks)
    for sock in socks:
        sock.setblocking(False)
    deadline = time.monotonic() + OUTER_S
    with selectors.DefaultSelector() as sel:
        for sock in socks:
            sel.register(sock, selectors.EVENT_READ)
        while len(open_) > most and time.monotonic() < deadline:
            for key, _ in sel.select(1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(1)
                except ConnectionResetError:
                    data = b""
                assert data == b"", "the hub sent something to a connection that sent nothing"
                sel.unregister(sock)
                open_.discard(sock)
    assert len(open_) <= most, f"{len(open_)} idle connections still open, want ≤ {most}"
    return len(open_)


WAITING = {
    "nothing": b"",
    "half_a_head": b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
    # (JSON, or the login refuses it at once with 415 without waiting for the body)
    "half_a_body": b"POST /api/hr/login HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Length: 900\r\n\r\n{",
}


@pytest.mark.parametrize("sent", WAITING.values(), ids=WAITING.keys())
@pytest.mark.parametrize(
    ("env", "cap"),
    [
        ({"HUB_MAX_WAITING_CONNECTIONS_PER_IP": "20"}, 20),
        ({"HUB_MAX_WAITING_CONNECTIONS": "30", "HUB_MAX_WAITING_CONNECTIONS_PER_IP": "0"}, 30),
    ],
    ids=["per_address", "in_all"],
)
def test_waiting_connections_are_capped_oldest_first(
    redis_server: EmbeddedRedis, tmp_path: Path, env: dict[str, str], cap: int, sent: bytes
) -> None:
    """Over the cap of connections that have not sent a whole request (nothing, part of the head, part of the body), per address or in all, the oldest are closed (without an answer) and a new client is served at once."""
    no_limits = {name: "0" for name in QUICK}
    hub = start_hub(redis_server.url, tmp_path, **no_limits, **env)
    try:
        with idle_connections(hub, 100, sent) as idle:
            wait_until_open_at_most(idle, cap)
            assert httpx.get(f"{hub.http}/healthz", timeout=OUTER_S).status_code == 200
    finally:
        hub.stop()
    assert hub.errors() == []


def test_a_flood_from_one_address_pushes_out_its_own_not_anothers(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    """At the cap in all, the connections closed are those of the address with the most waiting, not the oldest of anyone's: five quiet connections from 127.0.0.2 outlive a flood of 100 from 127.0.0.1."""
    no_limits = {name: "0" for name in QUICK}
    hub = start_hub(redis_server.url, tmp_path, **no_limits, HUB_MAX_WAITING_CONNECTIONS="30")
    quiet: list[socket.socket] = []
    try:
        for _ in range(5):
            sock = socket.socket()
            quiet.append(sock)
            sock.bind(("127.0.0.2", 0))
            sock.connect(("127.0.0.1", hub.port))
        with idle_connections(hub, 100) as flood:
            wait_until_open_at_most(flood, 25)
            for sock in quiet:  # still open: nothing to read, no end of file
                sock.setblocking(False)
                with pytest.raises(BlockingIOError):
                    sock.recv(1)
    finally:
        for sock in quiet:
            sock.close()
        hub.stop()


class Waiting:
    """Stands in for a connection in the guard's bookkeeping: an address, and whether the
    guard closed it."""

    def __init__(self, peer_ip: str) -> None:
        self.peer_ip = peer_ip
        self.closed = False

    def give_up(self, why: str) -> None:
        self.closed = True


@pytest.mark.parametrize("seed", range(20))
def test_the_guard_keeps_its_counts_under_any_order_of_events(seed: int) -> None:
    """Random arrivals and departures from a few addresses: the guard's totals, per-address lists and busiest address stay exact, and no cap is ever exceeded."""
    rng = random.Random(seed)
    per_ip, in_all = rng.choice([0, 3, 5]), rng.choice([0, 5, 10])
    guard = ConnectionGuard(Settings(max_waiting_connections_per_ip=per_ip), in_all)
    live: list[Waiting] = []
    for _ in range(500):
        if live and rng.random() < 0.4:
            gone = live.pop(rng.randrange(len(live)))
            guard.leave(gone)  # type: ignore[arg-type]
        else:
            new = Waiting(rng.choice("abcdefg"))
            guard.enter(new)  # type: ignore[arg-type]
            live.append(new)
        live = [c for c in live if not c.closed]
        counts = {ip: len(conns) for ip, conns in guard.per_ip.items()}
        assert guard.total == sum(counts.values()) == len(live)
        assert guard.most == max(counts.values(), default=0)
        assert all(counts[ip] == n for n, ips in guard.by_count.items() for ip in ips)
        assert not in_all or guard.total <= in_all
        assert not per_ip or max(counts.values(), default=0) <= per_ip


def lower_open_files() -> None:
    """In the hub's process, before it runs: at most 1,024 open files, for good."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


async def test_1100_idle_connections_do_not_take_the_hub_down(
    redis_server: EmbeddedRedis, tmp_path: Path, make_interview
) -> None:
    """With its open files limited to 1,024 (it cannot raise them), a hub holding 1,100 idle connections, no first-byte limit, still answers /healthz and lets a candidate join: the waiting cap, sized from the limit, closes idle ones before the descriptors run out."""
    _, token = await make_interview()
    hub = start_hub(
        redis_server.url,
        tmp_path,
        preexec_fn=lower_open_files,
        HUB_HTTP_FIRST_BYTE_TIMEOUT_S="0",
        HUB_MAX_WAITING_CONNECTIONS_PER_IP="0",
    )
    try:
        with idle_connections(hub, 1100) as idle:
            async with httpx.AsyncClient(base_url=hub.http, timeout=OUTER_S) as http:
                assert (await http.get("/healthz")).status_code == 200
            async with CandidateClient(hub.ws, token, PHONE) as c:
                await c.join()
                await c.send_text("served while 1,100 idle connections knock")
                await c.wait_acked()
            wait_until_open_at_most(idle, 256)
    finally:
        hub.stop()
    assert "open files limit 1024; at most 256 connections waiting" in hub.log()
    assert hub.errors() == []


def test_the_open_files_limit_is_raised_to_the_hard_limit(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    """Started with a low soft open-files limit, the hub raises it to its hard limit (read from /proc/<pid>/limits) and says so once."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip("the hard open-files limit here is too low to lower the soft one under it")

    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    hub = start_hub(redis_server.url, tmp_path, preexec_fn=low_soft_limit)
    try:
        limits = Path(f"/proc/{hub.process.pid}/limits").read_text()
        row = next(line for line in limits.splitlines() if line.startswith("Max open files"))
        soft, hard_seen = row.split()[3:5]
        assert soft == hard_seen == ("unlimited" if hard == resource.RLIM_INFINITY else str(hard))
    finally:
        hub.stop()
    assert hub.log().count("open files limit raised from 256 to") == 1
