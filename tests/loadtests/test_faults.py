"""The fault proxy the fault tests and the fault benchmark put between the hub, Redis and
the clients (loadtests/faults.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from loadtests.faults import FaultProxy


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    """A TCP echo server on 127.0.0.1 (what the proxy forwards to)."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def exchange(port: int) -> bytes:
    """Connect, send, and read what comes back (b"" when the proxy closed or reset it,
    whenever the reset reaches us)."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionError:
        return b""
    try:
        writer.write(b"ping")
        return await reader.read(1024)
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def test_a_refusing_proxy_closes_new_connections_at_once(echo_port: int) -> None:
    """While refusing, a new connection is reset as soon as it is accepted (Redis "down"), not left open with nothing behind it; once the proxy accepts again, bytes flow."""
    with FaultProxy(echo_port) as proxy:
        proxy.refuse(True)
        # a bound for a hung test only: a refused connection ends at once
        assert await asyncio.wait_for(exchange(proxy.port), 30) == b""
        proxy.refuse(False)
        assert await asyncio.wait_for(exchange(proxy.port), 30) == b"ping"
