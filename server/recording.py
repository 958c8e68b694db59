"""An answer's recording, assembled from its stored media entries with PyAV.

The stored JPEG frames (sampled, HUB_MEDIA_FPS) become VP8 video at their own times, and the
one-second 16 kHz PCM segments become Opus audio, in a WebM file that browsers play. It is
made on demand from what Redis holds: nothing else is kept.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

import av

MS = Fraction(1, 1000)


def assemble_webm(entries: list[dict[str, Any]]) -> bytes:
    """WebM (VP8 + Opus) of one answer's entries (as Store.media returns them, opened)."""
    frames = [e for e in entries if e["kind"] == "jpeg"]
    audio = [e for e in entries if e["kind"] == "pcm16k"]
    if not frames and not audio:
        raise ValueError("nothing recorded for this answer")
    t0 = start_ms(entries)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="webm") as out:
        video = None
        if frames:
            first = _decode_jpeg(frames[0]["data"])
            video = out.add_stream("libvpx", rate=30)
            video.width, video.height, video.pix_fmt = first.width, first.height, "yuv420p"
            video.codec_context.time_base = MS
            video.time_base = MS
        sound = None
        if audio:
            sound = out.add_stream("libopus", rate=48_000, layout="mono")
        if video is not None:
            last = -1
            for entry in frames:
                picture = _decode_jpeg(entry["data"]).reformat(
                    width=video.width, height=video.height, format="yuv420p"
                )
                pts = max(last + 1, entry["t"] - t0)  # strictly increasing
                picture.pts, picture.time_base, last = pts, MS, pts
                for packet in video.encode(picture):
                    out.mux(packet)
            for packet in video.encode(None):
                out.mux(packet)
        if sound is not None:
            _encode_audio(out, sound, audio, t0)
    return buf.getvalue()


def start_ms(entries: list[dict[str, Any]], kinds: tuple[str, ...] = ("jpeg", "pcm16k")) -> int:
    """When the recording of these entries starts (its time 0), counting only ``kinds``."""
    # an audio segment is stored when its second is complete: it started that long before
    starts: list[int] = [
        e["t"] if e["kind"] == "jpeg" else e["t"] - len(e["data"]) * 1000 // 32_000
        for e in entries
        if e["kind"] in kinds
    ]
    return min(starts)


def _decode_jpeg(data: bytes) -> av.VideoFrame:
    codec = av.CodecContext.create("mjpeg", "r")
    frames = list(codec.decode(av.Packet(data))) + list(codec.decode(None))
    if not frames:
        raise ValueError("a stored frame is not a JPEG")
    return frames[0]


def _encode_audio(out: Any, sound: Any, segments: list[dict[str, Any]], t0: int) -> None:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000)
    fifo = av.AudioFifo()
    # Each segment goes at its own time: silence fills a gap (a drop, a resume), and an
    # overlap (two devices at once, a takeover) keeps what came first.
    pieces: list[bytes] = []
    cursor = 0  # in samples at 16 kHz, from t0
    for entry in sorted(segments, key=lambda e: e["t"]):
        data = entry["data"]
        start = (entry["t"] - t0) * 16 - len(data) // 2
        if start > cursor:
            pieces.append(b"\x00\x00" * (start - cursor))
            cursor = start
        skip = cursor - start  # samples already covered
        if skip * 2 < len(data):
            pieces.append(data[skip * 2 :])
            cursor += len(data) // 2 - skip
    for pcm in pieces:
        for resampled in resampler.resample(_pcm_frame(pcm)):
            fifo.write(resampled)
    size = sound.codec_context.frame_size or 960
    pts = 0
    while fifo.samples >= size:
        frame = fifo.read(size)
        assert frame is not None  # None only when the FIFO holds fewer than ``size`` samples
        frame.pts, frame.time_base = pts, Fraction(1, 48_000)
        pts += frame.samples
        for packet in sound.encode(frame):
            out.mux(packet)
    for packet in sound.encode(None):
        out.mux(packet)


def _pcm_frame(pcm: bytes) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
    frame.planes[0].update(pcm[: len(pcm) // 2 * 2])
    frame.sample_rate = 16_000
    return frame


__all__ = ["assemble_webm", "start_ms"]
