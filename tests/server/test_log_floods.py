"""What an outsider can do as often as they like must not fill the hub's log: aborted
request bodies, garbled requests, refused websocket handshakes (bad Origin, no
subprotocol, too many sockets) and clients vanishing mid-request each leave at most a DEBUG
or INFO line, and a WARNING with counts at most once a minute; never a traceback or an
ERROR. Each is done 50 times against a real hub, whose log is then read."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from protocol import SUBPROTOCOL
from server.store.embedded import EmbeddedRedis
from tests.conftest import Hub, start_hub

# flood runs: their own command (README, "Long runs")
pytestmark = pytest.mark.long

TIMES = 50
OUTER_S = 60.0


@pytest.fixture(scope="module")
def noisy_hub(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    """One socket per address, and all the time in the world to join."""
    hub = start_hub(
        redis_server.url,
        tmp_path_factory.mktemp("noisy"),
        HUB_MAX_CONNECTIONS_PER_IP="1",
        HUB_JOIN_TIMEOUT_S="600",
    )
    yield hub
    hub.stop()


def settled_lines(hub: Hub, since: int) -> list[str]:
    """The log lines after line ``since``, once the hub has answered twice more (so that
    work left queued on its event loop by what came before is done)."""
    for _ in range(2):
        assert httpx.get(f"{hub.http}/healthz", timeout=OUTER_S).status_code == 200
    return hub.log().splitlines()[since:]


def lines_while(hub: Hub, burst: Callable[[], None]) -> list[str]:
    """The log lines the hub writes while ``burst`` runs (and settles)."""
    since = len(hub.log().splitlines())
    burst()
    return settled_lines(hub, since)


def assert_quiet(lines: list[str]) -> None:
    assert not [x for x in lines if "Traceback" in x or "ERROR" in x], "\n".join(lines)
    warnings = [x for x in lines if "WARNING" in x]
    assert len(warnings) <= 1, "\n".join(warnings)


def connect(hub: Hub) -> socket.socket:
    return socket.create_connection(("127.0.0.1", hub.port), timeout=OUTER_S)


def reset(sock: socket.socket) -> None:
    """Vanish: close with a TCP reset, as a client whose network died."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_closed(sock: socket.socket) -> bytes:
    """What the hub sends until it closes the connection."""
    received = bytearray()
    deadline = time.monotonic() + OUTER_S
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        received += data
    else:
        raise AssertionError("the hub did not close the connection")
    return bytes(received)


def test_aborted_request_bodies_are_not_logged(noisy_hub: Hub) -> None:
    """50 requests whose client stops sending halfway through the body (it hangs up) leave no traceback or ERROR in the log."""

    def burst() -> None:
        for _ in range(TIMES):
            with connect(noisy_hub) as sock:
                sock.sendall(
                    b"POST /api/candidate/centre HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                    b'{"token": "abc'
                )
                sock.shutdown(socket.SHUT_WR)  # gone, but we still see the hub close
                wait_closed(sock)

    assert_quiet(lines_while(noisy_hub, burst))


def test_garbled_requests_are_counted_not_logged_each(noisy_hub: Hub) -> None:
    """50 requests that are not HTTP at all (a TLS hello on the plain port) are each answered 400, with at most one WARNING line for all of them."""

    def burst() -> None:
        for _ in range(TIMES):
            with connect(noisy_hub) as sock:
                sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n")
                assert wait_closed(sock).startswith(b"HTTP/1.1 400 ")

    assert_quiet(lines_while(noisy_hub, burst))


@pytest.mark.parametrize(
    ("origin", "subprotocols", "reason"),
    [
        ("https://evil.example", [SUBPROTOCOL], "origin_not_allowed"),
        (None, [], "subprotocol_required"),
    ],
    ids=["bad_origin", "no_subprotocol"],
)
async def test_refused_handshakes_are_not_logged_each(
    noisy_hub: Hub, origin: str | None, subprotocols: list[str], reason: str
) -> None:
    """50 websocket handshakes refused for their Origin or a missing subprotocol get their 403 each and leave at most one WARNING line."""
    before = len(noisy_hub.log().splitlines())
    for _ in range(TIMES):
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(
                f"ws://127.0.0.1:{noisy_hub.port}/ws/candidate",
                subprotocols=subprotocols or None,  # type: ignore[arg-type]
                origin=origin,  # type: ignore[arg-type]
            ):
                pass
        assert refused.value.response.status_code == 403
        assert reason.encode() in refused.value.response.body
    assert_quiet(settled_lines(noisy_hub, before))


async def test_too_many_connections_is_not_logged_each(noisy_hub: Hub) -> None:
    """With this address's one socket in use, 50 more handshakes get 403 too_many_connections each and leave at most one WARNING line (there was one per refusal)."""
    before = len(noisy_hub.log().splitlines())
    held = await websockets.connect(
        f"ws://127.0.0.1:{noisy_hub.port}/ws/candidate", subprotocols=[SUBPROTOCOL]
    )
    try:
        for _ in range(TIMES):
            with pytest.raises(InvalidStatus) as refused:
                async with websockets.connect(
                    f"ws://127.0.0.1:{noisy_hub.port}/ws/candidate", subprotocols=[SUBPROTOCOL]
                ):
                    pass
            assert b"too_many_connections" in refused.value.response.body
    finally:
        await held.close()
    assert_quiet(settled_lines(noisy_hub, before))


def handshake_request(hub: Hub) -> bytes:
    return (
        f"GET /ws/candidate HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n"
    ).encode()


def test_clients_vanishing_mid_request_are_not_logged(noisy_hub: Hub) -> None:
    """50 clients that reset the connection right after a request, 50 right after a websocket handshake request and 50 right after their socket is accepted leave no traceback or ERROR, and at most one WARNING."""

    def accepted_then_gone() -> None:
        # one socket per address: a new one is accepted only once the last one's handler
        # has finished, so each accept proves the previous vanishing was dealt with
        deadline = time.monotonic() + OUTER_S
        done = 0
        while done < TIMES:
            assert time.monotonic() < deadline, "the hub never freed the address' socket"
            sock = connect(noisy_hub)
            sock.sendall(handshake_request(noisy_hub))
            head = sock.recv(4096)
            if head.startswith(b"HTTP/1.1 101 "):
                done += 1
            reset(sock)

    def burst() -> None:
        for _ in range(TIMES):
            sock = connect(noisy_hub)
            sock.sendall(b"GET /api/candidate/media-config HTTP/1.1\r\nHost: x\r\n\r\n")
            reset(sock)
        for _ in range(TIMES):
            sock = connect(noisy_hub)
            sock.sendall(handshake_request(noisy_hub))
            reset(sock)
        accepted_then_gone()

    assert_quiet(lines_while(noisy_hub, burst))


async def test_a_client_gone_before_the_accept_gives_its_socket_place_back() -> None:
    """A client that vanishes between its handshake request and the accept (the accept raises) does not keep its place in the per-address socket count, or the address would end up locked out."""
    from uvicorn.protocols.utils import ClientDisconnected

    from server.hub import ConnectionsPerIP, handshake

    per_ip = ConnectionsPerIP(limit=1)

    async def receive() -> dict[str, str]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, str]) -> None:
        raise ClientDisconnected()

    scope = {"type": "websocket", "subprotocols": [SUBPROTOCOL], "headers": []}
    with pytest.raises(ClientDisconnected):
        await handshake(scope, receive, send, set(), SUBPROTOCOL, per_ip, "192.0.2.1")
    assert per_ip.open == {}
