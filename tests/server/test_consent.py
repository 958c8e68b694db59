"""The candidate's rights: consent, human-only review and camera consent, over real sockets.

The notice and its choices are described in docs/privacy.md; the rule is protocol/consent.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription

from client.candidate import CandidateClient
from protocol import SUBPROTOCOL_V2
from protocol.codec import encode
from protocol.messages import Join, MediaAnswer, MediaOffer
from protocol.reasons import messages
from server.store import Store
from tests.conftest import PHONE, Hub, Org, interview_body
from tests.server.test_media import CountingVideo, ToneAudio, next_of


def choices(token: str, review: str = "ai", camera: bool = True) -> dict[str, Any]:
    return {
        "token": token,
        "identity": PHONE,
        "review": review,
        "camera": camera,
        "notice_version": "1",
    }


async def consent(hub: Hub, token: str, review: str = "ai", camera: bool = True) -> Any:
    async with httpx.AsyncClient(base_url=hub.http) as http:
        return await http.post("/api/candidate/consent", json=choices(token, review, camera))


async def test_consent_is_recorded_in_the_meta_the_log_and_hr_detail(
    hub: Hub, org: Org, store: Store
) -> None:
    """POST /api/candidate/consent stores review, camera, consent_ms and the notice version in the meta, writes a `consent` entry in the interview's and the organisation's logs, and HR's detail and the report show it."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (
            await http.post("/api/hr/interviews", json=interview_body(1), headers=org.auth("admin"))
        ).json()
        iv_id, token = created["interview_id"], created["token"]
        before = (
            await http.get(f"/api/hr/interviews/{iv_id}", headers=org.auth("recruiter"))
        ).json()
        r = await http.post("/api/candidate/consent", json=choices(token, "ai", camera=False))
        assert r.status_code == 200, r.text
        recorded = r.json()
        detail = (
            await http.get(f"/api/hr/interviews/{iv_id}", headers=org.auth("recruiter"))
        ).json()
        centre = (
            await http.post("/api/candidate/centre", json={"token": token, "identity": PHONE})
        ).json()
    assert before["consent"] == {"review": "", "camera": "", "consent_ms": 0, "notice": ""}
    assert recorded["review"] == "ai" and recorded["camera"] == "off"
    assert recorded["consent_ms"] > 0 and recorded["notice"] == "1"
    meta = await store.meta(iv_id)
    assert (meta["review"], meta["camera"], meta["consent_notice"]) == ("ai", "off", "1")
    assert int(meta["consent_ms"]) == recorded["consent_ms"]
    assert detail["consent"] == recorded
    assert centre["interviews"][0]["consent"] == recorded
    assert centre["notice"]["retention_days"] > 0
    entries = [e for e in await store.oplog(iv_id) if e["action"] == "consent"]
    assert len(entries) == 1 and entries[0]["outcome"] == "ok"
    assert entries[0]["detail"] == {"review": "ai", "camera": "off", "notice": "1"}
    assert entries[0]["actor"] == "candidate" and entries[0]["proof"].startswith("phone")
    events = [e for e in await store.events(iv_id) if e["kind"] == "consent"]
    assert [(e["review"], e["camera"]) for e in events] == [("ai", "off")]
    org_entries = [e for e in await store.org_log(org.name) if e["action"] == "consent"]
    assert [e["interview_id"] for e in org_entries if e["interview_id"] == iv_id] == [iv_id]
    report = await hub_report(hub, org, iv_id)
    assert report["consent"]["review"] == "ai" and report["consent"]["camera"] == "off"


async def hub_report(hub: Hub, org: Org, iv_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post(f"/api/hr/interviews/{iv_id}/report", headers=org.auth("admin"))
        assert r.status_code == 201, r.text
        html = await http.get(
            f"/api/hr/interviews/{iv_id}/report.html?lang=en", headers=org.auth("admin")
        )
    choice = "consented to AI-assisted" if r.json()["consent"]["review"] == "ai" else "human-only"
    assert choice in html.text
    camera = "voice and text only" if r.json()["consent"]["camera"] == "off" else "separate consent"
    assert camera in html.text
    return dict(r.json())


async def test_human_only_review_can_be_asked_later_and_never_goes_back(
    hub: Hub, org: Org, store: Store
) -> None:
    """After an "ai" consent and the interview's completion, the candidate may still ask for human-only review; a later request for "ai" is refused with human_review_kept (zh-CN and en), logged, and the meta keeps human_only."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (
            await http.post("/api/hr/interviews", json=interview_body(1), headers=org.auth("admin"))
        ).json()
    iv_id, token = created["interview_id"], created["token"]
    assert (await consent(hub, token, "ai")).status_code == 200
    async with CandidateClient(hub.ws, token, PHONE) as candidate:
        await candidate.join()
        await candidate.send_text("my answer")
        await candidate.finish()
    assert (await store.meta(iv_id))["state"] == "completed"
    later = await consent(hub, token, "human_only")
    assert later.status_code == 200 and later.json()["review"] == "human_only"
    back = await consent(hub, token, "ai")
    assert back.status_code == 409
    assert back.json()["reason"] == "human_review_kept"
    assert back.json()["message"] == messages("human_review_kept")
    assert (await store.meta(iv_id))["review"] == "human_only"
    outcomes = [e["outcome"] for e in await store.oplog(iv_id) if e["action"] == "consent"]
    assert outcomes == ["ok", "ok", "human_review_kept"]
    report = await hub_report(hub, org, iv_id)
    assert report["consent"]["review"] == "human_only"


async def test_racing_choices_never_end_in_ai_after_human_only(
    hub: Hub, org: Org, store: Store
) -> None:
    """ "ai" and "human_only" requests at once (as many as the identity check lets through together): once human_only is recorded it stays, and every recorded change is in the log (the log head is the compare-and-set)."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (
            await http.post("/api/hr/interviews", json=interview_body(1), headers=org.auth("admin"))
        ).json()
    iv_id, token = created["interview_id"], created["token"]
    answers = await asyncio.gather(
        *(consent(hub, token, "ai" if i % 2 else "human_only") for i in range(4))
    )
    assert {a.status_code for a in answers} <= {200, 409}
    assert (await store.meta(iv_id))["review"] == "human_only"
    entries = [e for e in await store.oplog(iv_id) if e["action"] == "consent"]
    recorded = [e["detail"]["review"] for e in entries if e["outcome"] == "ok"]
    assert "human_only" in recorded
    assert "ai" not in recorded[recorded.index("human_only") :]


async def audio_seconds(store: Store, iv_id: str) -> int:
    return sum(e["kind"] == "pcm16k" for e in await store.media(iv_id))


async def send_video(
    hub: Hub, token: str, store: Store, iv_id: str
) -> tuple[RTCPeerConnection, Any]:
    """Join over v2 and stream synthetic camera and microphone until audio is stored."""
    pc = RTCPeerConnection()
    pc.addTrack(CountingVideo())
    pc.addTrack(ToneAudio())
    ws = await websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL_V2])
    await ws.send(encode(Join(token, PHONE)))
    await pc.setLocalDescription(await pc.createOffer())
    await ws.send(encode(MediaOffer(pc.localDescription.sdp)))
    answer = await next_of(ws, MediaAnswer)
    await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
    for _ in range(300):  # until three seconds of audio are in (bounded)
        if await audio_seconds(store, iv_id) >= 3:
            break
        await asyncio.sleep(0.1)
    return pc, ws


async def test_without_camera_consent_the_hub_stores_no_video(
    hub: Hub, org: Org, store: Store
) -> None:
    """Camera consent "off": a client that sends video anyway gets its audio stored and not one video frame; HR is told once why (media event video_not_stored / no_camera_consent)."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (
            await http.post("/api/hr/interviews", json=interview_body(1), headers=org.auth("admin"))
        ).json()
    iv_id, token = created["interview_id"], created["token"]
    assert (await consent(hub, token, "ai", camera=False)).status_code == 200
    pc, ws = await send_video(hub, token, store, iv_id)
    await ws.close()
    await pc.close()
    kinds = [e["kind"] for e in await store.media(iv_id)]
    assert kinds.count("pcm16k") >= 3 and "jpeg" not in kinds
    refusals = [e for e in await store.events(iv_id) if e.get("state") == "video_not_stored"]
    assert len(refusals) == 1 and refusals[0]["reason"] == "no_camera_consent"


async def test_withdrawing_camera_consent_stops_the_video_at_once(
    hub: Hub, org: Org, store: Store
) -> None:
    """Camera consent "on" stores frames; withdrawing it during the interview (camera false) stops them while the same peer connection keeps sending, and audio goes on."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (
            await http.post("/api/hr/interviews", json=interview_body(1), headers=org.auth("admin"))
        ).json()
    iv_id, token = created["interview_id"], created["token"]
    assert (await consent(hub, token, "ai", camera=True)).status_code == 200
    pc, ws = await send_video(hub, token, store, iv_id)
    for _ in range(300):
        if any(e["kind"] == "jpeg" for e in await store.media(iv_id)):
            break
        await asyncio.sleep(0.1)
    assert (await consent(hub, token, "ai", camera=False)).status_code == 200
    frames_then = sum(e["kind"] == "jpeg" for e in await store.media(iv_id))
    audio_then = await audio_seconds(store, iv_id)
    for _ in range(300):  # three more seconds of audio: the stream went on (bounded)
        if await audio_seconds(store, iv_id) >= audio_then + 3:
            break
        await asyncio.sleep(0.1)
    await ws.close()
    await pc.close()
    entries = await store.media(iv_id)
    frames = sum(e["kind"] == "jpeg" for e in entries)
    assert frames_then > 0  # stored while the consent was on
    # at most the one frame that had passed the check as the consent changed
    assert frames <= frames_then + 1
    assert sum(e["kind"] == "pcm16k" for e in entries) >= audio_then + 3
