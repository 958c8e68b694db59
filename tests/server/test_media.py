"""Camera and microphone over WebRTC (v2): an aiortc client sends synthetic video and audio."""

from __future__ import annotations

import asyncio
import fractions
import io
import time
from typing import Any

import av
import numpy as np
import pytest
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from protocol import SUBPROTOCOL, SUBPROTOCOL_V2
from protocol.codec import decode_server, encode
from protocol.messages import (
    ConfirmExit,
    Join,
    MediaAnswer,
    MediaOffer,
    MediaState,
    Refused,
    RequestExit,
)
from server.store import Store
from tests.conftest import PHONE, Hub


class CountingVideo(VideoStreamTrack):
    """A 320×240 test picture at 30 fps that counts the frames it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        image = np.full((240, 320, 3), (self.sent * 7) % 255, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        self.sent += 1
        return frame


class ToneAudio(AudioStreamTrack):
    """A 440 Hz tone, 48 kHz mono, in 20 ms frames; counts the samples it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.samples = 0
        self.started = 0.0

    async def recv(self) -> av.AudioFrame:
        if not self.started:
            self.started = time.monotonic()
        due = self.started + self.samples / 48_000
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        t = (np.arange(960) + self.samples) / 48_000
        wave = (np.sin(2 * np.pi * 440 * t) * 12_000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(wave, format="s16", layout="mono")
        frame.sample_rate = 48_000
        frame.pts = self.samples
        frame.time_base = fractions.Fraction(1, 48_000)
        self.samples += 960
        return frame


async def allow_camera(base_url: str, token: str) -> None:
    """The camera consent the candidate page records before joining (docs/privacy.md):
    without it the hub keeps no video frame."""
    import httpx

    body = {"token": token, "identity": PHONE, "review": "ai", "camera": True}
    async with httpx.AsyncClient(base_url=base_url) as http:
        r = await http.post("/api/candidate/consent", json={**body, "notice_version": "1"})
    assert r.status_code == 200, r.text


async def next_of(ws: Any, kind: type, timeout: float = 15) -> Any:
    while True:
        msg = decode_server(await asyncio.wait_for(ws.recv(), timeout), media=True)
        if isinstance(msg, kind):
            return msg


async def test_v1_socket_refuses_media_messages(hub: Hub, make_interview) -> None:
    """A v1 client's media_offer is an unknown type: media needs the v2 subprotocol."""
    _, token = await make_interview(questions=1)
    async with websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL]) as ws:
        assert ws.subprotocol == SUBPROTOCOL
        await ws.send(encode(Join(token, PHONE)))
        await ws.recv()
        await ws.recv()
        await ws.send(encode(MediaOffer("v=0")))
        refusal = decode_server(await ws.recv())
        assert isinstance(refusal, Refused) and refusal.reason == "unknown_type"


async def test_bad_offer_is_refused_and_text_goes_on(
    hub: Hub, make_interview, store: Store
) -> None:
    """A malformed SDP gets media_state failed (bad_offer), HR sees it as an event, and answering by text goes on."""
    iv_id, token = await make_interview(questions=1)
    async with websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL_V2, SUBPROTOCOL]) as ws:
        assert ws.subprotocol == SUBPROTOCOL_V2
        await ws.send(encode(Join(token, PHONE)))
        await ws.send(encode(MediaOffer("this is not sdp")))
        state = await next_of(ws, MediaState)
        assert (state.state, state.reason) == ("failed", "bad_offer")
    events = [e for e in await store.events(iv_id) if e["kind"] == "media"]
    assert events and events[-1]["state"] == "failed" and events[-1]["reason"] == "bad_offer"


async def test_frames_and_audio_reach_redis_and_survive_the_exit(
    hub: Hub, make_interview, store: Store
) -> None:
    """Synthetic camera and microphone: sampled JPEG frames and one-second PCM segments are stored (sealed) as they arrive, tagged with the question; the exit closes the peer connection and keeps them."""
    iv_id, token = await make_interview(questions=2)
    await allow_camera(hub.http, token)
    pc = RTCPeerConnection()
    video, audio = CountingVideo(), ToneAudio()
    pc.addTrack(video)
    pc.addTrack(audio)
    async with websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL_V2]) as ws:
        await ws.send(encode(Join(token, PHONE)))
        await pc.setLocalDescription(await pc.createOffer())  # gathers: no trickle
        await ws.send(encode(MediaOffer(pc.localDescription.sdp)))
        answer = await next_of(ws, MediaAnswer)
        await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        connected = await next_of(ws, MediaState, timeout=20)
        assert connected.state == "connected"
        start = time.monotonic()
        while time.monotonic() - start < 3.5 or not await store.media(iv_id):
            await asyncio.sleep(0.25)  # streaming; bounded by the test's own timeout
        await ws.send(encode(RequestExit()))
        await ws.send(encode(ConfirmExit()))
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await ws.recv()
        assert ws.close_code == 4000
    sent_frames, sent_seconds = video.sent, audio.samples / 48_000
    await pc.close()
    await asyncio.sleep(0.5)  # the hub stores the last part of a second as it closes
    entries = await store.media(iv_id)
    frames = [e for e in entries if e["kind"] == "jpeg"]
    pcm = [e for e in entries if e["kind"] == "pcm16k"]
    assert frames and pcm
    assert all(e["q"] == 0 for e in entries)
    assert all(f["data"][:2] == b"\xff\xd8" and f["data"][-2:] == b"\xff\xd9" for f in frames)
    # sampled at 2 fps of the ~30 sent each second: never more than sent, a few per second
    assert len(frames) < sent_frames
    assert len(frames) <= sent_seconds * 2 + 2
    stored_seconds = sum(len(e["data"]) for e in pcm) / 32_000
    assert 0 < stored_seconds <= sent_seconds + 0.1
    assert max(e["level"] for e in pcm) > 50  # a loud tone, not silence
    raw = await store.raw.xrange(f"{{iv:{iv_id}}}:media", count=1)
    assert b"\xff\xd8" not in raw[0][1][b"d"][:40]  # sealed at rest
    events = [e for e in await store.events(iv_id) if e["kind"] == "media"]
    assert [e["state"] for e in events][:1] == ["connected"] and events[-1]["state"] == "closed"
    print(
        f"\nmedia: sent {sent_frames} frames / {sent_seconds:.1f} s audio; stored "
        f"{len(frames)} JPEG, {stored_seconds:.2f} s PCM"
    )


async def test_hr_monitor_sees_frames_and_audio_level_live(hub: Hub, org) -> None:
    """A monitor watching the interview receives its JPEG frames and audio seconds (with a level) as they are stored."""
    import httpx

    from client.monitor import MonitorClient
    from protocol.messages import LiveMedia
    from tests.conftest import interview_body

    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post("/api/hr/interviews", json=interview_body(1), headers=org.auth("admin"))
    created = r.json()
    await allow_camera(hub.http, created["token"])
    monitor = MonitorClient(hub.ws.replace("/ws/candidate", "/ws/monitor"), org.tokens["recruiter"])
    await monitor.connect()
    await monitor.watch(created["interview_id"])
    pc = RTCPeerConnection()
    pc.addTrack(CountingVideo())
    pc.addTrack(ToneAudio())
    async with websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL_V2]) as ws:
        await ws.send(encode(Join(created["token"], PHONE)))
        await pc.setLocalDescription(await pc.createOffer())
        await ws.send(encode(MediaOffer(pc.localDescription.sdp)))
        answer = await next_of(ws, MediaAnswer)
        await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        kinds: dict[str, LiveMedia] = {}
        while len(kinds) < 2:
            media = await monitor.next_of(LiveMedia, timeout=20)
            kinds[media.kind] = media
        await asyncio.sleep(1.5)  # a little more to record
    await pc.close()
    await monitor.close()
    assert kinds["jpeg"].data[:2] == b"\xff\xd8" and kinds["jpeg"].level == 0
    assert kinds["pcm16k"].level > 50 and len(kinds["pcm16k"].data) == 32_000
    assert {m.interview_id for m in kinds.values()} == {created["interview_id"]}

    # the answer's recording, assembled from what was stored: plays as VP8 + Opus
    iv_id = created["interview_id"]
    async with httpx.AsyncClient(base_url=hub.http) as http:
        detail = (
            await http.get(f"/api/hr/interviews/{iv_id}", headers=org.auth("recruiter"))
        ).json()
        assert detail["answers"][0]["media"]["frames"] > 0
        webm = await http.get(
            f"/api/hr/interviews/{iv_id}/answers/0/recording.webm", headers=org.auth("recruiter")
        )
        none = await http.get(
            f"/api/hr/interviews/{iv_id}/answers/5/recording.webm", headers=org.auth("recruiter")
        )
    assert webm.status_code == 200 and webm.headers["content-type"] == "video/webm"
    assert none.status_code == 404 and none.json()["reason"] == "no_recording"
    container = av.open(io.BytesIO(webm.content))
    assert {s.codec_context.name for s in container.streams} == {"vp8", "opus"}
    pictures = sum(1 for _ in container.decode(video=0))
    container = av.open(io.BytesIO(webm.content))
    seconds = sum(f.samples for f in container.decode(audio=0)) / 48_000
    assert pictures == detail["answers"][0]["media"]["frames"]
    assert seconds >= detail["answers"][0]["media"]["audio_s"] - 0.1 > 0


async def connect_media(ws: Any, pc: RTCPeerConnection) -> None:
    await pc.setLocalDescription(await pc.createOffer())
    await ws.send(encode(MediaOffer(pc.localDescription.sdp)))
    answer = await next_of(ws, MediaAnswer)
    await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))


async def test_media_store_is_capped_per_interview(redis_server, tmp_path, store: Store) -> None:
    """A candidate cannot flood the media stream: past HUB_MAX_MEDIA_ENTRIES the hub stores nothing more and says `limited` (also to HR)."""
    from server.interviews import create_interview
    from server.settings import Settings
    from tests.conftest import MASTER_KEYS, SECRET, now_ms, spec, start_hub

    capped = start_hub(redis_server.url, tmp_path, HUB_MAX_MEDIA_ENTRIES="4")
    try:
        settings = Settings(redis_url=redis_server.url, secret=SECRET, master_keys=MASTER_KEYS)
        created = await create_interview(store, settings, spec(1), now_ms())
        await allow_camera(capped.http, created.token)
        pc = RTCPeerConnection()
        pc.addTrack(CountingVideo())
        pc.addTrack(ToneAudio())
        async with websockets.connect(capped.ws, subprotocols=[SUBPROTOCOL_V2]) as ws:
            await ws.send(encode(Join(created.token, PHONE)))
            await connect_media(ws, pc)
            while (state := await next_of(ws, MediaState, timeout=30)).state != "limited":
                pass
            assert state.reason == "media_limit"
            await asyncio.sleep(1.5)  # frames keep coming: none is stored
            # a new peer connection (a new offer, as after a resume) does not reset the cap
            again = RTCPeerConnection()
            again.addTrack(CountingVideo())
            await connect_media(ws, again)
            while (state := await next_of(ws, MediaState, timeout=30)).state != "limited":
                pass
            await again.close()
        await pc.close()
        assert len(await store.media(created.interview_id)) == 4
        events = [e for e in await store.events(created.interview_id) if e["kind"] == "media"]
        assert any(e["state"] == "limited" for e in events)
    finally:
        capped.stop()


async def test_a_resume_starts_a_new_peer_connection_and_takeover_closes_the_old(
    hub: Hub, make_interview, store: Store
) -> None:
    """After a drop the resumed socket offers again and media goes on; a second device's join closes the first device's media."""
    iv_id, token = await make_interview(questions=1)
    await allow_camera(hub.http, token)
    first = RTCPeerConnection()
    first.addTrack(CountingVideo())
    ws = await websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL_V2])
    await ws.send(encode(Join(token, PHONE)))
    await connect_media(ws, first)
    while not await store.media(iv_id):
        await asyncio.sleep(0.2)
    ws.transport.abort()  # the network drops
    await first.close()
    before = len(await store.media(iv_id))
    second = RTCPeerConnection()
    second.addTrack(CountingVideo())
    async with websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL_V2]) as resumed:
        await resumed.send(encode(Join(token, PHONE)))
        await connect_media(resumed, second)
        while len(await store.media(iv_id)) <= before + 1:
            await asyncio.sleep(0.2)
        async with websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL_V2]) as other:
            await other.send(encode(Join(token, PHONE, "other device")))
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await resumed.recv()
            assert resumed.close_code == 4002
    await second.close()
    raw = await store.raw.xrange(f"{{iv:{iv_id}}}:media")
    assert len({f[b"s"] for _, f in raw}) == 2  # two peer connections, one after the other
    for _ in range(50):  # the hub closes the peer connection as the socket ends
        states = [e["state"] for e in await store.events(iv_id) if e["kind"] == "media"]
        if states.count("closed") == 2:
            break
        await asyncio.sleep(0.1)
    assert states.count("closed") == 2  # the drop and the takeover each closed one


async def test_unreachable_media_fails_and_hr_sees_why(
    redis_server, tmp_path, make_interview, store: Store
) -> None:
    """When UDP cannot get through (the offer's only candidates are unreachable), the client is told `failed: ice_timeout` in time, HR sees the event, and text goes on."""
    import re

    from protocol.messages import ChunkAcked, SendChunk
    from tests.conftest import start_hub

    quick = start_hub(redis_server.url, tmp_path, HUB_MEDIA_CONNECT_TIMEOUT_S="3")
    try:
        iv_id, token = await make_interview(questions=1)
        pc = RTCPeerConnection()
        pc.addTrack(CountingVideo())
        async with websockets.connect(quick.ws, subprotocols=[SUBPROTOCOL_V2]) as ws:
            await ws.send(encode(Join(token, PHONE)))
            await pc.setLocalDescription(await pc.createOffer())
            # every candidate moved to TEST-NET-1 (RFC 5737): nothing answers there
            sdp = re.sub(
                r"(a=candidate:\S+ \d \S+ \d+ )\S+( \d+ typ)",
                r"\g<1>192.0.2.1\2",
                pc.localDescription.sdp,
            )
            await ws.send(encode(MediaOffer(sdp)))
            await next_of(ws, MediaAnswer)
            state = await next_of(ws, MediaState, timeout=30)
            assert (state.state, state.reason) == ("failed", "ice_timeout")
            await ws.send(encode(SendChunk(0, 1, "still typing")))
            assert (await next_of(ws, ChunkAcked)).seq == 1
        await pc.close()
    finally:
        quick.stop()
    events = [e for e in await store.events(iv_id) if e["kind"] == "media"]
    assert {"state": "failed", "reason": "ice_timeout"}.items() <= events[0].items()


async def test_ice_servers_reach_the_hub_and_the_page(
    redis_server, tmp_path, make_interview
) -> None:
    """HUB_ICE_SERVERS (STUN, TURN with credentials) is what the page's media config gives, and the hub still connects media with it set."""
    import httpx

    from server.media import ice_servers
    from tests.conftest import start_hub

    assert ice_servers(("stun:stun.example:3478", "turn:turn.example:3478|alice|s3cret")) == [
        {"urls": "stun:stun.example:3478"},
        {"urls": "turn:turn.example:3478", "username": "alice", "credential": "s3cret"},
    ]
    configured = start_hub(redis_server.url, tmp_path, HUB_ICE_SERVERS="stun:127.0.0.1:9")
    try:
        async with httpx.AsyncClient(base_url=configured.http) as http:
            config = (await http.get("/api/candidate/media-config")).json()
        assert config == {"iceServers": [{"urls": "stun:127.0.0.1:9"}]}
        _, token = await make_interview(questions=1)
        pc = RTCPeerConnection()
        pc.addTrack(CountingVideo())
        async with websockets.connect(configured.ws, subprotocols=[SUBPROTOCOL_V2]) as ws:
            await ws.send(encode(Join(token, PHONE)))
            await connect_media(ws, pc)
            assert (await next_of(ws, MediaState, timeout=30)).state == "connected"
        await pc.close()
    finally:
        configured.stop()


async def test_signalling_does_not_hold_up_the_answer(
    redis_server, tmp_path, make_interview
) -> None:
    """An offer whose answer waits for a STUN server that never replies does not delay the chunks sent after it."""
    from protocol.messages import ChunkAcked, SendChunk
    from tests.conftest import start_hub

    slow = start_hub(redis_server.url, tmp_path, HUB_ICE_SERVERS="stun:192.0.2.1:3478")
    try:
        _, token = await make_interview(questions=1)
        pc = RTCPeerConnection()
        pc.addTrack(CountingVideo())
        async with websockets.connect(slow.ws, subprotocols=[SUBPROTOCOL_V2]) as ws:
            await ws.send(encode(Join(token, PHONE)))
            await pc.setLocalDescription(await pc.createOffer())
            await ws.send(encode(MediaOffer(pc.localDescription.sdp)))
            await ws.send(encode(SendChunk(0, 1, "typed while the hub gathers")))
            order = []
            while "answer" not in order:
                msg = decode_server(await asyncio.wait_for(ws.recv(), 30), media=True)
                if isinstance(msg, ChunkAcked):
                    order.append("ack")
                elif isinstance(msg, MediaAnswer):
                    order.append("answer")
            assert order.index("ack") < order.index("answer")
        await pc.close()
    finally:
        slow.stop()
