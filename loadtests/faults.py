"""A TCP proxy that injects network faults between two local processes (hub ↔ Redis,
client ↔ hub), for the fault tests and the fault benchmark.

It runs its own event loop in a thread, so a test whose loop is busy (or blocked in a
synchronous call) does not stall the traffic it forwards. Faults:

- ``reset()``: every open connection is aborted with a TCP RST on both sides, as a
  middlebox or a dying peer would; new connections are accepted as usual.
- ``blackhole(True)``: bytes stop flowing both ways, connections stay open (no FIN, no
  RST), as on a dead network path; ``blackhole(False)`` lets them flow again (what was held
  is then delivered, as TCP would after a retransmission).
- ``refuse(True)``: new connections are closed at once (the server is "down").

Only 127.0.0.0/8 is used: it listens on 127.0.0.1 and forwards to a local port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from concurrent.futures import Future
from typing import Any


class _Pipe(asyncio.Protocol):
    """One side of a proxied connection: what it receives goes to ``peer``."""

    def __init__(self, proxy: FaultProxy, accepted: bool = False) -> None:
        self.proxy = proxy
        self.accepted = accepted  # the client's side: connect it onwards once it exists
        self.transport: asyncio.Transport | None = None
        self.peer: _Pipe | None = None
        self.held: list[bytes] = []  # received while black-holed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.accepted:
            # only now: a refusal must have a transport to abort, or the client would be
            # left connected to nothing, waiting (a hang, not a refusal)
            task = asyncio.get_running_loop().create_task(self.proxy._connect(self))
            self.proxy.connecting.add(task)
            task.add_done_callback(self.proxy.connecting.discard)

    def data_received(self, data: bytes) -> None:
        if self.proxy.blackholed or self.peer is None or self.peer.transport is None:
            self.held.append(data)  # black-holed, or the other side is not connected yet
        else:
            self.peer.transport.write(data)

    def flush(self) -> None:
        held, self.held = self.held, []
        if self.peer is not None and self.peer.transport is not None:
            for data in held:
                self.peer.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.proxy.pipes.discard(self)
        if self.proxy.blackholed:
            return  # nothing crosses a dead path, not even the news that one side is gone
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    def abort_with_rst(self) -> None:
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                # linger on, timeout 0: close() sends RST instead of FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


class FaultProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target_port>, with faults on demand."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.blackholed = False
        self.refusing = False
        self.pipes: set[_Pipe] = set()
        self.connecting: set[asyncio.Task[None]] = set()  # onward connections being made
        self.connections = 0  # accepted so far
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # --- life ---------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._start()).result(10)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._stop()).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    # --- faults -------------------------------------------------------------------------

    def reset(self) -> int:
        """Abort every open connection with RST; returns how many there were."""
        return int(self._call(self._reset()).result(10))

    def blackhole(self, on: bool) -> None:
        self._call(self._blackhole(on)).result(10)

    def refuse(self, on: bool) -> None:
        self.refusing = on

    # --- inside the proxy's loop ----------------------------------------------------------

    def _call(self, coro: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def _start(self) -> None:
        self._server = await self._loop.create_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # a connection accepted just now gets its transport (connection_made) on the next
        # turns of the loop: until then it has nothing to abort
        for _ in range(3):
            await asyncio.sleep(0)
        # an onward connection still being made would leave its socket open for ever
        for task in list(self.connecting):
            task.cancel()
        await asyncio.gather(*self.connecting, return_exceptions=True)
        for pipe in list(self.pipes):
            if pipe.transport is not None:
                pipe.transport.abort()
        for _ in range(3):
            await asyncio.sleep(0)  # let the aborted transports close their sockets

    def _accept(self) -> _Pipe:
        downstream = _Pipe(self, accepted=True)
        self.pipes.add(downstream)
        self.connections += 1
        return downstream

    async def _connect(self, downstream: _Pipe) -> None:
        if self.refusing:
            downstream.abort_with_rst()
            return
        upstream = _Pipe(self)
        try:
            await self._loop.create_connection(lambda: upstream, *self.target)
        except OSError:
            downstream.abort_with_rst()
            return
        downstream_gone = downstream.transport is None or downstream.transport.is_closing()
        if downstream_gone and upstream.transport is not None:
            upstream.transport.abort()  # the client left while this was being connected
            return
        self.pipes.add(upstream)
        upstream.peer, downstream.peer = downstream, upstream
        if not self.blackholed:
            downstream.flush()  # bytes that arrived before the upstream was ready

    async def _reset(self) -> int:
        pipes = list(self.pipes)
        for pipe in pipes:
            pipe.abort_with_rst()
        return len(pipes) // 2

    async def _blackhole(self, on: bool) -> None:
        self.blackholed = on
        if not on:
            for pipe in list(self.pipes):
                pipe.flush()


__all__ = ["FaultProxy"]
