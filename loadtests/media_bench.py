"""Media benchmark: N candidates stream a synthetic camera and microphone over WebRTC while
also typing, against a hub of its own; prints what the hub spends per media candidate.

    uv run python -m loadtests.media_bench --candidates 4 --duration 20

The hub runs pinned to CPU 0 (taskset), redis-server and this generator (which encodes
every candidate's VP8 video and Opus audio with aiortc) on CPU 1. Each candidate sends a
--width x --height picture at --fps frames a second plus a tone, and a text chunk every
--chunk-interval seconds whose ack latency is measured. The last line is JSON: hub CPU
seconds per media candidate per second, hub memory per media candidate, what was stored
(frames, audio seconds), and chunk→ack p50/p99 while the media flowed. Traffic goes only
to 127.0.0.1; it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from loadtests.bench import CLK_TCK, DEFAULT_MASTER_KEYS, DEFAULT_SECRET, free_port
from loadtests.interviews import create_interviews
from protocol import SUBPROTOCOL_V2
from protocol.codec import decode_server, encode
from protocol.messages import ChunkAcked, Join, MediaAnswer, MediaOffer, MediaState, SendChunk
from server.store import Store
from server.store.embedded import EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent


class Picture(VideoStreamTrack):
    def __init__(self, width: int, height: int, fps: int) -> None:
        super().__init__()
        self.width, self.height, self.fps, self.sent = width, height, fps, 0
        self.base = np.random.default_rng(1).integers(0, 255, (height, width, 3), dtype=np.uint8)

    async def recv(self) -> av.VideoFrame:
        await asyncio.sleep(1 / self.fps)
        frame = av.VideoFrame.from_ndarray(np.roll(self.base, self.sent, axis=1), format="rgb24")
        frame.pts, frame.time_base = self.sent, fractions.Fraction(1, self.fps)
        self.sent += 1
        return frame


class Tone(AudioStreamTrack):
    def __init__(self) -> None:
        super().__init__()
        self.samples, self.started = 0, 0.0

    async def recv(self) -> av.AudioFrame:
        self.started = self.started or time.monotonic()
        await asyncio.sleep(max(0.0, self.started + self.samples / 48_000 - time.monotonic()))
        t = (np.arange(960) + self.samples) / 48_000
        wave = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(wave, format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48_000, self.samples
        frame.time_base = fractions.Fraction(1, 48_000)
        self.samples += 960
        return frame


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def candidate(
    url: str, iv: dict[str, Any], args: argparse.Namespace, out: dict[str, Any], stop: asyncio.Event
) -> None:
    pc = RTCPeerConnection()
    pc.addTrack(Picture(args.width, args.height, args.fps))
    pc.addTrack(Tone())
    latencies: list[float] = out["latencies"]
    sent: dict[int, float] = {}
    async with websockets.connect(url, subprotocols=[SUBPROTOCOL_V2], max_size=None) as ws:
        await ws.send(encode(Join(iv["token"], iv["identity"])))
        await pc.setLocalDescription(await pc.createOffer())
        await ws.send(encode(MediaOffer(pc.localDescription.sdp)))

        async def read() -> None:
            async for data in ws:
                msg = decode_server(data, media=True)
                if isinstance(msg, MediaAnswer):
                    await pc.setRemoteDescription(RTCSessionDescription(msg.sdp, "answer"))
                elif isinstance(msg, MediaState):
                    out["states"].append(msg.state)
                elif isinstance(msg, ChunkAcked):
                    now = time.monotonic()
                    for seq in [s for s in sent if s <= msg.seq]:
                        if out["measuring"]:
                            latencies.append((now - sent.pop(seq)) * 1000)
                        else:
                            sent.pop(seq)

        reader = asyncio.create_task(read())
        seq = 0
        while not stop.is_set():
            seq += 1
            sent[seq] = time.monotonic()
            await ws.send(encode(SendChunk(0, seq, f"typed {seq} ")))
            await asyncio.sleep(args.chunk_interval)
        reader.cancel()
    await pc.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="ihub-media-"))
    redis = EmbeddedRedis(tmp / "redis", port=free_port())
    redis.start()
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis.url,
        "HUB_SECRET": DEFAULT_SECRET,
        "HUB_MASTER_KEYS": DEFAULT_MASTER_KEYS,
        "HUB_MAX_CONNECTIONS_PER_IP": "0",
        "HUB_MAX_WAITING_CONNECTIONS_PER_IP": "0",
    }
    cmd = [
        sys.executable,
        "-m",
        "server.cli",
        "--data-dir",
        str(tmp / "hub"),
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    pinned = bool(shutil.which("taskset")) and len(os.sched_getaffinity(0)) >= 2
    if pinned:
        cmd = ["taskset", "-c", "0", *cmd]
        os.sched_setaffinity(0, {1})
        os.sched_setaffinity(redis.process.pid, {1})
    hub = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        ivs = await create_interviews(
            redis.url, DEFAULT_SECRET, args.candidates, master_keys=DEFAULT_MASTER_KEYS
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for iv in ivs:  # the camera consent the candidate page records before joining
                choices = {"review": "ai", "camera": True, "notice_version": "1"}
                proof = {"token": iv["token"], "identity": iv["identity"]}
                await http.post("/api/candidate/consent", json={**proof, **choices})
        out: dict[str, Any] = {"latencies": [], "states": [], "measuring": False}
        stop = asyncio.Event()
        rss0 = rss_mb(hub.pid)
        tasks = [
            asyncio.create_task(
                candidate(f"ws://127.0.0.1:{port}/ws/candidate", iv, args, out, stop)
            )
            for iv in ivs
        ]
        await asyncio.sleep(args.warmup)
        out["measuring"] = True
        cpu0, t0 = cpu_seconds(hub.pid), time.monotonic()
        await asyncio.sleep(args.duration)
        cpu1, t1 = cpu_seconds(hub.pid), time.monotonic()
        rss1 = rss_mb(hub.pid)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        store = Store.from_url(redis.url, secret=DEFAULT_SECRET, master_keys=DEFAULT_MASTER_KEYS)
        frames = audio_s = 0.0
        for iv in ivs:
            counts = await store.media_counts(iv["interview_id"])
            frames += sum(c["frames"] for c in counts.values())
            audio_s += sum(c["audio_s"] for c in counts.values())
        await store.close()
        lat = sorted(out["latencies"])
        util = (cpu1 - cpu0) / (t1 - t0)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else -1.0

        return {
            "candidates": args.candidates,
            "video": f"{args.width}x{args.height}@{args.fps}",
            "duration_s": args.duration,
            "connected": out["states"].count("connected"),
            "hub_cpu_util": round(util, 3),
            "hub_cpu_per_media_candidate": round(util / args.candidates, 3),
            "hub_rss_mb_before": round(rss0, 1),
            "hub_rss_mb_after": round(rss1, 1),
            "hub_rss_mb_per_media_candidate": round((rss1 - rss0) / args.candidates, 1),
            "stored_frames": int(frames),
            "stored_audio_s": round(audio_s, 1),
            "chunks_acked": len(lat),
            "chunk_ack_p50_ms": pct(0.5),
            "chunk_ack_p99_ms": pct(0.99),
            "hub_pinned": pinned,
        }
    finally:
        hub.terminate()
        hub.wait(15)
        redis.stop()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m loadtests.media_bench")
    p.add_argument("--candidates", type=int, default=4)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--chunk-interval", type=float, default=0.5)
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
