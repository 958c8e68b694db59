"""A Python HR monitor: log in, watch interviews live, replay after a reconnect, end one.

token = await login(http_base, "lead", "secret")
async with MonitorClient(ws_url, token) as m:
    await m.watch(interview_id)             # replays nothing, then live
    event = await m.next_of(LiveEvent)
# later, reconnect and replay what was missed:
await m2.watch(interview_id, after_event=m.last_event[interview_id], ...)
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Origin, Subprotocol

from protocol import MONITOR_SUBPROTOCOL
from protocol.codec import decode_monitor_server, encode
from protocol.messages import (
    Authenticate,
    EndInterview,
    LiveChunk,
    LiveEvent,
    MonitorReady,
    MonitorServerMessage,
    Refused,
    Watch,
    Watching,
)


async def login(base_url: str, username: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=base_url) as http:
        r = await http.post("/api/hr/login", json={"username": username, "password": password})
        r.raise_for_status()
        return str(r.json()["token"])


class MonitorClient:
    def __init__(self, url: str, token: str, *, origin: str | None = None) -> None:
        self.url = url
        self.token = token
        self.origin = origin
        self.ws: ClientConnection | None = None
        self.inbox: asyncio.Queue[MonitorServerMessage | None] = asyncio.Queue()
        self.received: list[MonitorServerMessage] = []
        self.last_event: dict[str, str] = {}  # interview id ("" org) -> last event id
        self.last_chunk: dict[str, str] = {}
        self.close_code: int | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> MonitorClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> MonitorReady:
        self.ws = await websockets.connect(
            self.url,
            subprotocols=[Subprotocol(MONITOR_SUBPROTOCOL)],
            origin=Origin(self.origin) if self.origin is not None else None,
            compression=None,
            max_size=2**24,
        )
        self._reader = asyncio.create_task(self._read())
        await self.send(Authenticate(self.token))
        ready = await self.next_message()
        if not isinstance(ready, MonitorReady):
            if self._reader is not None:  # the server closes next: keep its close code
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(self._reader), 5)
            raise AssertionError(f"expected ready, got {ready!r}")
        return ready

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for data in self.ws:
                if isinstance(data, bytes):
                    msg = decode_monitor_server(data)
                    self.received.append(msg)
                    if isinstance(msg, Watching):
                        # where the watch starts: resuming from here misses nothing, even
                        # for a monitor that drops before its first entry
                        self.last_event[msg.interview_id] = msg.after_event
                        if msg.interview_id:
                            self.last_chunk[msg.interview_id] = msg.after_chunk
                    elif isinstance(msg, LiveEvent):
                        self.last_event[msg.watch] = msg.id
                    elif isinstance(msg, LiveChunk):
                        self.last_chunk[msg.interview_id] = msg.id
                    await self.inbox.put(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            await self.inbox.put(None)

    async def send(self, msg: Any) -> None:
        assert self.ws is not None
        await self.ws.send(encode(msg))

    async def next_message(self, timeout: float = 10.0) -> MonitorServerMessage:
        msg = await asyncio.wait_for(self.inbox.get(), timeout)
        if msg is None:
            await self.inbox.put(None)
            raise ConnectionError(f"monitor closed with {self.close_code}")
        return msg

    async def next_of(self, cls: type[Any], timeout: float = 10.0, **match: Any) -> Any:
        """The next message of class ``cls`` whose fields equal ``match`` (others are skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = await self.next_message(max(0.01, deadline - loop.time()))
            if isinstance(msg, Refused) and cls is not Refused:
                raise AssertionError(f"refused: {msg.reason}")
            if isinstance(msg, cls) and all(getattr(msg, k) == v for k, v in match.items()):
                return msg

    async def watch(
        self, interview_id: str = "", after_event: str = "", after_chunk: str = ""
    ) -> Watching:
        await self.send(Watch(interview_id, after_event, after_chunk))
        watching: Watching = await self.next_of(Watching, interview_id=interview_id)
        return watching

    async def end(self, interview_id: str, note: str = "", confirm: bool = True) -> None:
        await self.send(EndInterview(interview_id, confirm, note))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


__all__ = ["LiveChunk", "LiveEvent", "MonitorClient", "login"]
