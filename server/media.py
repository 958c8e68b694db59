"""Camera and microphone over WebRTC: one aiortc RTCPeerConnection per candidate socket.

Signalling rides on the candidate socket (v2, SPEC §16): the client's ``media_offer``
(ICE gathering complete, no trickle) gets a ``media_answer``. Received video is sampled
(``HUB_MEDIA_FPS``, 2 a second by default), scaled to at most ``HUB_MEDIA_WIDTH`` pixels wide
and encoded as JPEG; received audio is resampled to 16 kHz mono 16-bit PCM and cut into
one-second segments (small, lossless, and any player or speech model reads it; Opus would
be smaller but needs a container to be useful on its own). Each frame and segment goes into
the interview's ``media`` stream as it is made, tagged with the open question and the time,
sealed like the answers. Video is kept only when the candidate consented to the camera
(meta ``camera`` "on", protocol/consent.py). The stream is durable (it is the recording);
what one interview may store is capped (``HUB_MAX_MEDIA_ENTRIES``), after which the client
is told ``limited``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from protocol.consent import video_allowed
from protocol.messages import MediaState
from server.crypto import RecordCipher
from server.store import Store, media_purpose

# aiortc and av (about half a second of CPU to import) load with the first media session,
# not with every hub and command that imports this module
if TYPE_CHECKING:
    import av

log = logging.getLogger("interview_hub.media")

PCM_RATE = 16_000
SEGMENT_BYTES = PCM_RATE * 2  # one second of 16-bit mono


def ice_servers(entries: tuple[str, ...]) -> list[dict[str, str]]:
    """HUB_ICE_SERVERS as W3C RTCIceServer dicts (urls, and username/credential for TURN)."""
    out = []
    for entry in entries:
        url, _, rest = entry.partition("|")
        user, _, password = rest.partition("|")
        server = {"urls": url}
        if user:
            server |= {"username": user, "credential": password}
        out.append(server)
    return out


def encode_jpeg(frame: av.VideoFrame, max_width: int) -> bytes:
    """One video frame as a JPEG, at most ``max_width`` wide (even sizes, for yuvj420p)."""
    import av

    width = min(frame.width, max_width)
    height = max(2, int(frame.height * width / frame.width) // 2 * 2)
    width = max(2, width // 2 * 2)
    image = frame.reformat(width=width, height=height, format="yuvj420p")
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    codec.time_base = Fraction(1, 30)
    return b"".join(bytes(p) for p in codec.encode(image))


def level_of(pcm: bytes | bytearray) -> int:
    """Loudness 0..100 of 16-bit PCM (RMS on a log scale from -60 dBFS)."""
    samples = memoryview(pcm).cast("h")
    if not samples:
        return 0
    rms = math.sqrt(sum(s * s for s in samples[::8]) / len(samples[::8])) / 32768
    if rms <= 0:
        return 0
    return max(0, min(100, int((20 * math.log10(rms) + 60) * 100 / 60)))


class MediaSession:
    """The media of one candidate socket: its peer connection and what it stores."""

    def __init__(
        self,
        store: Store,
        iv_id: str,
        attempt: int,
        cipher: RecordCipher,
        *,
        current_q: Callable[[], int],
        push: Callable[[Any], None],
        on_state: Callable[[str, str], Any],
        fps: float,
        max_width: int,
        max_entries: int,
        connect_timeout_s: float = 15.0,
        ice: list[dict[str, str]] | None = None,
    ) -> None:
        self.store = store
        self.iv_id = iv_id
        self.attempt = attempt
        self.cipher = cipher
        self.current_q = current_q
        self.push = push
        self.on_state = on_state
        self.fps = fps
        self.max_width = max_width
        self.max_entries = max_entries
        self.connect_timeout_s = connect_timeout_s
        self.session = uuid.uuid4().hex[:8]
        from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[RTCIceServer(**server) for server in ice or []])
        )
        self.tasks: set[asyncio.Task[None]] = set()
        self.stored = {"jpeg": 0, "pcm16k": 0}
        self.entries = 0
        self.limited = False
        self.video_refused = False  # video came without camera consent (told HR once)
        self.closed = False
        self.watchdog: asyncio.Task[None] | None = None

    async def answer(self, offer_sdp: str) -> str:
        if not any(line.startswith(("m=audio", "m=video")) for line in offer_sdp.splitlines()):
            raise ValueError("the offer has no audio or video")

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            consume = self._video if track.kind == "video" else self._audio
            task = asyncio.create_task(consume(track))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        @self.pc.on("connectionstatechange")
        async def on_change() -> None:
            state = self.pc.connectionState
            if state in ("connected", "failed"):
                self.push(MediaState(state, "ice_failed" if state == "failed" else ""))
                await self.on_state(state, "ice_failed" if state == "failed" else "")

        from aiortc import RTCSessionDescription

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self.watchdog = asyncio.create_task(self._connect_or_give_up())
        return str(self.pc.localDescription.sdp)

    async def _connect_or_give_up(self) -> None:
        """UDP blocked, or no route between the two: ICE may never settle. Say so in time."""
        await asyncio.sleep(self.connect_timeout_s)
        if self.closed or self.pc.connectionState in ("connected", "failed", "closed"):
            return
        self.push(MediaState("failed", "ice_timeout"))
        await self.on_state("failed", "ice_timeout")
        with contextlib.suppress(Exception):
            await self.pc.close()

    async def _video(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        loop = asyncio.get_running_loop()
        next_at = 0.0
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                now = loop.time()
                if now < next_at:
                    continue  # sampled: HUB_MEDIA_FPS frames a second are kept
                next_at = now + 1 / self.fps
                if not await self._video_allowed():
                    continue
                q = self.current_q()  # the question open when the frame arrived
                jpeg = await asyncio.to_thread(encode_jpeg, frame, self.max_width)
                await self._store("jpeg", jpeg, 0, q)

    async def _video_allowed(self) -> bool:
        """Face data is stored only with its own consent (camera "on", docs/privacy.md),
        whatever the client sends. Read at each kept frame: a consent withdrawn during the
        interview stops the recording at the next one. HR is told once why none is kept."""
        camera = await self.store.meta_field(self.iv_id, "camera")
        if video_allowed(camera):
            return True
        if not self.video_refused:
            self.video_refused = True
            await self.on_state("video_not_stored", "no_camera_consent")
        return False

    async def _audio(self, track: Any) -> None:
        import av
        from aiortc.mediastreams import MediaStreamError

        resampler = av.AudioResampler(format="s16", layout="mono", rate=PCM_RATE)
        pending = bytearray()
        segment_q = self.current_q()  # the question the pending sound belongs to
        try:
            while True:
                frame = await track.recv()
                q = self.current_q()
                if q != segment_q:
                    # the question changed: what was said before belongs to the old one
                    if pending:
                        await self._store("pcm16k", bytes(pending), level_of(pending), segment_q)
                    pending.clear()
                    segment_q = q
                for out in resampler.resample(frame):
                    pending += bytes(out.planes[0])[: out.samples * 2]
                while len(pending) >= SEGMENT_BYTES:
                    segment = bytes(pending[:SEGMENT_BYTES])
                    del pending[:SEGMENT_BYTES]
                    await self._store("pcm16k", segment, level_of(segment), segment_q)
        except MediaStreamError:
            if pending:  # the last part of a second: kept too
                await self._store("pcm16k", bytes(pending), level_of(pending), segment_q)

    async def _store(self, kind: str, data: bytes, level: int, q: int) -> None:
        if q < 0 or self.closed or self.current_q() < 0:
            return  # no question open, or the socket is closing (exit, end, takeover)
        # the cap is the interview's, across every connection and resume (atomic count)
        used = await self.store.count_media_entry(self.iv_id)
        if used > self.max_entries:
            if not self.limited:
                self.limited = True
                self.push(MediaState("limited", "media_limit"))
                await self.on_state("limited", "media_limit")
            return
        n = self.entries
        self.entries += 1
        entry = {"attempt": self.attempt, "q": q, "kind": kind, "session": self.session, "n": n}
        entry |= {"level": level, "t": time.time_ns() // 1_000_000}
        await self.store.add_media(self.iv_id, self.cipher, entry, data)
        self.stored[kind] += 1

    async def close(self) -> None:
        """Close the peer connection; what was received is stored first."""
        if self.closed:
            return
        if self.watchdog is not None and self.watchdog is not asyncio.current_task():
            self.watchdog.cancel()
        with contextlib.suppress(Exception):
            await self.pc.close()  # ends the tracks: the consumers store their last part
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=5)
        self.closed = True


__all__ = ["MediaSession", "encode_jpeg", "level_of", "media_purpose"]
