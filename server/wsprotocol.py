"""uvicorn's websocket protocol, with the closing behaviour the hub promises (SPEC §5.5, §13).

What differs from uvicorn's own (``websockets-sansio``):

- A **close frame does not wait for room** in the send buffer. uvicorn's ``send`` waits
  while the transport is paused (the peer does not read); a close decided *because* the
  peer does not read (1008) would then never be written. A close is a few bytes: it goes
  right behind what is buffered, so a client that reads again finds it.
- A close may carry **one final message** (``{"type": "websocket.close", "code": …,
  "final": bytes}``, the refusal saying why): it is written just before the close frame,
  and does not wait for room either, so a socket closed because its HR session ended gets
  the reason at once, behind only what is already buffered (``Outbox.close_now``). Another
  ASGI server ignores the key: the close still goes, without the message.
- A connection whose closing handshake does not complete within ``close_timeout`` is
  **dropped**, not closed gracefully: a graceful close waits until the buffered bytes are
  sent, which for a peer that never reads is for ever.
- A missed **keep-alive pong drops the connection at once** (after the 1011 frame is
  queued): on a dead network path (no FIN, no RST) a graceful close would wait for TCP to
  give up, minutes later, and until then the hub would think the candidate connected. But
  while the peer is not even taking what we send (the send buffer is full), a missing pong
  says nothing new: the app closes such a peer itself, with 1008, and the ping is retried.
  Nor does it while the hub itself has stopped reading (the app is behind on what the
  peer sent: the pong waits, unread, behind it) or when the peer has sent anything since
  the ping (a path that carries data is not dead; its pong is queued behind that data).
- Once the app is done with a connection, it is gone within ``close_timeout``, whatever
  the peer does.
- A handshake refused with an HTTP answer (``hub.deny``: 403 and the reason as JSON)
  counts as complete: uvicorn marks it so only when the connection is lost, a loop turn
  after the app returns, and logged every refusal (which any outsider can cause) as
  "ASGI callable returned without completing handshake" at ERROR.
"""

from __future__ import annotations

import contextlib
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    async def send(self, message: Any) -> None:
        closing = message.get("type") == "websocket.close" and self.handshake_complete
        if closing and not self.close_sent:
            self.writable.set()  # nothing else is sent after a close: no room is needed
            final = message.get("final")
            if final is not None and not self.disconnected and not self.transport.is_closing():
                with contextlib.suppress(InvalidState):  # the peer closed first: no message
                    self.conn.send_binary(final)
                    self.transport.write(b"".join(self.conn.data_to_send()))
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body"):
            self.handshake_complete = True
        if closing and self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = self.loop.call_later(self.close_timeout, self._close_or_drop)

    def _close_or_drop(self) -> None:
        """The peer did not answer our close in time."""
        self.close_timer = None
        if self.transport.get_write_buffer_size():
            self.transport.abort()  # it does not read: do not wait for the buffer to drain
        else:
            self.transport.close()

    heard_at: float = 0.0

    def data_received(self, data: bytes) -> None:
        self.heard_at = self.loop.time()
        super().data_received(data)

    def keepalive_timeout(self) -> None:
        closing = self.close_sent or self.transport.is_closing()
        path_shown_alive = (
            not self.writable.is_set() or self.read_paused or self.heard_at > self.ping_sent_at
        )
        if not closing and path_shown_alive:
            self.pong_timer = None
            self.pending_ping_payload = None
            self.schedule_ping()
            return
        super().keepalive_timeout()
        if not closing:
            self.transport.abort()  # the path is dead: tell the hub now, not when TCP gives up

    async def run_asgi(self) -> None:
        await super().run_asgi()
        self.loop.call_later(self.close_timeout, self._drop_if_open)

    def _drop_if_open(self) -> None:
        if not self.disconnected:
            self.transport.abort()


__all__ = ["HubWebSocketProtocol"]
