"""What a socket has to send, in order, by one task: replies, acks, live entries, the close.

A close goes after everything queued before it. Producers that may wait (a monitor's
stream reader) use ``put``, which waits while the queue is at its limit and reports a
stall after ``stall_s``. Once a close is queued, a peer that does not take it within
``stall_s`` × 3 (it stopped reading) is given up: the sending task ends. A peer found not
to read at all, or one that must hear nothing more (its HR session ended), is closed with
``close_now``: what is queued is dropped and the close (after one final message saying
why, if given) goes out at once, behind only what the transport already holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

_CLOSE = object()


def _retrieve(task: asyncio.Task[None]) -> None:
    """A replaced sender's end (cancelled, or the peer gone): nothing to report."""
    if not task.cancelled():
        task.exception()


class Outbox:
    def __init__(self, send: Any, *, limit: int, stall_s: float) -> None:
        self._send = send
        self.limit = limit
        self.stall_s = stall_s
        self._items: deque[Any] = deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.closed = False  # a close is queued: nothing more goes in
        self.task: asyncio.Task[None] | None = None
        self._give_up: asyncio.TimerHandle | None = None

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self._run())
        return self.task

    @property
    def queued(self) -> int:
        """Messages queued and not yet sent (/metrics)."""
        return len(self._items)

    @property
    def over_limit(self) -> bool:
        return len(self._items) > self.limit

    def push(self, data: bytes) -> None:
        if not self.closed:
            self._items.append(data)
            self._wake.set()

    async def put(self, data: bytes) -> bool:
        """Queue ``data``, waiting while the queue is full; False if it stays full (stalled)."""
        while not self.closed and len(self._items) >= self.limit:
            self._room.clear()
            try:
                await asyncio.wait_for(self._room.wait(), self.stall_s)
            except TimeoutError:
                return False
        self.push(data)
        return not self.closed

    async def wait_for_room(self) -> bool:
        """For a reader: wait while half the limit is queued (the peer is being sent to);
        False if it stays so for ``stall_s`` (the peer does not read)."""
        while not self.closed and len(self._items) >= self.limit // 2:
            self._room.clear()
            try:
                await asyncio.wait_for(self._room.wait(), self.stall_s)
            except TimeoutError:
                return False
        return True

    def close(self, code: int, final: bytes | None = None) -> bool:
        """Queue ``final`` and the close; False if a close was already queued."""
        if self.closed:
            return False
        if final is not None:
            self._items.append(final)
        self.closed = True
        self._items.append((_CLOSE, code))
        self._wake.set()
        if self.task is not None and not self.task.done():
            loop = asyncio.get_running_loop()
            self._give_up = loop.call_later(self.stall_s * 3, self.task.cancel)
        return True

    def close_now(self, code: int, final: bytes | None = None) -> bool:
        """Drop what is queued and send ``final`` (the refusal saying why) and the close
        right away: the peer does not read, or must not get anything more. The hub's
        websocket protocol (server/wsprotocol.py) writes both without waiting for room.
        False if a close was already queued."""
        if self.closed:
            return False
        self.closed = True
        self._items.clear()
        self._room.set()
        if self.task is not None:
            if not self.task.done():
                self.task.cancel()  # it may wait for room for a message nobody will get
            # cancelled, or dead already (the peer vanished): its end is not worth a report
            self.task.add_done_callback(_retrieve)
        close: dict[str, Any] = {"type": "websocket.close", "code": code}
        if final is not None:
            close["final"] = final
        self.task = asyncio.create_task(self._send(close))
        return True

    async def wait(self, timeout: float) -> None:
        """Until the close is sent (or the peer is given up), at most ``timeout``."""
        if self.task is None:
            return
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self.task), timeout)

    def stop(self) -> BaseException | None:
        """End the sending task; return what it failed with (a vanished peer), if anything."""
        if self._give_up is not None:
            self._give_up.cancel()
        if self.task is None:
            return None
        if not self.task.done():
            self.task.cancel()
            return None
        return None if self.task.cancelled() else self.task.exception()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._items:
                item = self._items.popleft()
                if len(self._items) < self.limit // 2:
                    self._room.set()
                message: dict[str, Any] = (
                    {"type": "websocket.close", "code": int(item[1])}
                    if type(item) is tuple
                    else {"type": "websocket.send", "bytes": item}
                )
                try:
                    await self._send(message)
                except RuntimeError:
                    # the server closed the socket itself (its keep-alive dropped the peer):
                    # nothing more can go out, and that is no failure of this socket's
                    return
                if message["type"] == "websocket.close":
                    return
