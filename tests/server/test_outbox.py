"""The outbox's sender (server/outbox.py) against the ASGI server's send, as uvicorn's
websocket send behaves once a socket is gone or closed by uvicorn itself."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected

from server.outbox import Outbox


class ServerSend:
    """uvicorn's ``send`` (websockets_sansio_impl.py): once it has closed the socket itself
    (a missed keep-alive pong, a 1007 or 1009), every later send raises RuntimeError; once
    the peer is gone, ClientDisconnected."""

    def __init__(self) -> None:
        self.closed_by_server = False
        self.sent: list[Any] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        if self.closed_by_server:
            raise RuntimeError(
                f"Unexpected ASGI message '{message['type']}', after sending 'websocket.close'."
            )
        self.sent.append(message)


async def test_the_sender_ends_quietly_when_the_server_closed_the_socket_itself() -> None:
    """BUG (found by loadtests.abuse_bench: "Exception in ASGI application ... RuntimeError: Unexpected ASGI message 'websocket.send', after sending 'websocket.close'" in the hub log, from serve() -> Outbox.wait()): after uvicorn closed a socket itself (here: its keep-alive dropped a flooding socket whose pongs waited unread behind its own chunks), the next queued reply makes the sender fail with RuntimeError, and Outbox.wait() raises it out of the socket's serve(); the outbox should end as quietly as for a vanished peer (should the fix go into server/wsprotocol.py instead, this test moves with it)."""
    send = ServerSend()
    outbox = Outbox(send, limit=8, stall_s=1.0)
    outbox.start()
    outbox.push(b"an ack")
    while not send.sent:
        await asyncio.sleep(0)
    send.closed_by_server = True  # uvicorn wrote its own close frame
    outbox.push(b"the next ack")
    outbox.close(1000)
    await outbox.wait(5)  # what serve() does last: it must not raise
    outbox.stop()


async def test_close_now_after_the_sender_died_leaves_no_unretrieved_failure() -> None:
    """The sender dies with ClientDisconnected (the peer vanished); close_now() then replaces it and must retrieve its failure, or asyncio logs "Task exception was never retrieved" (see test_floods.py for the same through a real hub)."""
    failures: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: failures.append(context))

    async def vanished(message: dict[str, Any]) -> None:
        raise ClientDisconnected()

    outbox = Outbox(vanished, limit=8, stall_s=1.0)
    task = outbox.start()
    outbox.push(b"an ack")
    while not task.done():
        await asyncio.sleep(0)
    del task
    outbox.close_now(1008)
    assert outbox.task is not None
    while not outbox.task.done():
        await asyncio.sleep(0)
    outbox.stop()  # retrieves what the close's own send failed with
    del outbox
    gc.collect()
    await asyncio.sleep(0)
    loop.set_exception_handler(None)
    assert not [f for f in failures if "never retrieved" in str(f.get("message"))], failures
