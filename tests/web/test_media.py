"""Chromium's fake camera and microphone against the hub's WebRTC peer (v2)."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import expect

from tests.conftest import Hub, Org, keyed_store
from tests.web.conftest import new_page, no_js_errors, screenshot
from tests.web.test_candidate import agree, candidate, create, enter, saved, stored


async def media_entries(hub: Hub, iv_id: str) -> list[dict]:
    store = keyed_store(hub.redis_url)
    try:
        return await store.media(iv_id)
    finally:
        await store.close()


async def test_fake_camera_frames_reach_redis_and_an_exit_keeps_them(
    hub: Hub, org: Org, new_context
) -> None:
    """The candidate page streams Chromium's fake camera and microphone: JPEG frames and PCM seconds arrive in Redis; exiting mid-answer closes the connection and keeps them."""
    iv = await create(hub, org, questions=2, second_entry=True)
    iv_id = iv["interview_id"]
    _, page = await candidate(new_context)
    await enter(page, iv["link"])
    status = page.locator("#media-status")
    await expect(status).to_have_attribute("data-state", "connected", timeout=20_000)
    await expect(page.locator("#self-view")).to_be_visible()
    await page.type("#answer", "talking and typing", delay=10)
    await saved(page)
    for _ in range(100):  # until a frame and a second of audio are in (bounded)
        kinds = {e["kind"] for e in await media_entries(hub, iv_id)}
        if kinds == {"jpeg", "pcm16k"}:
            break
        await asyncio.sleep(0.2)
    await screenshot(page, "candidate-question-media-desktop")
    await page.click("#exit-open")
    await page.click("#exit-confirm")
    await expect(page.locator("#stopped-title")).to_have_text("You have left the interview")
    await asyncio.sleep(0.5)
    entries = await media_entries(hub, iv_id)
    assert {e["kind"] for e in entries} == {"jpeg", "pcm16k"}
    assert all(e["q"] == 0 for e in entries)
    assert all(e["data"][:2] == b"\xff\xd8" for e in entries if e["kind"] == "jpeg")
    count = len(entries)
    await asyncio.sleep(1)
    assert len(await media_entries(hub, iv_id)) == count  # nothing after the exit
    texts, _, state = await stored(hub, iv_id)
    assert state == "exited" and texts[0] == "talking and typing"
    no_js_errors(page)


async def test_no_camera_still_answers_by_text_and_hr_sees_why(
    hub: Hub, org: Org, new_context
) -> None:
    """Without camera permission the page says so, text answers are stored, and the hub records why the media is off."""
    iv = await create(hub, org, questions=1)
    context = await new_context(permissions=[])
    page = await new_page(context)
    await page.add_init_script(
        "navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('no', 'NotAllowedError'));"
    )
    await page.goto(iv["link"])
    await page.fill("#identity", "13800138000")
    await page.click("#verify")
    await agree(page)
    await page.click("#device-continue")
    await page.click("#interview-start")
    await expect(page.locator("#media-status")).to_have_attribute("data-state", "off")
    await expect(page.locator("#media-status")).to_contain_text("answer in writing")
    await page.type("#answer", "text only", delay=10)
    await saved(page)
    store = keyed_store(hub.redis_url)
    try:
        events = [e for e in await store.events(iv["interview_id"]) if e["kind"] == "media"]
    finally:
        await store.close()
    assert events and events[0]["state"] == "stopped_by_client"
    assert events[0]["reason"] == "permission_denied"
    no_js_errors(page)


async def test_hr_console_shows_the_camera_live(hub: Hub, org: Org, new_context) -> None:
    """HR's console shows the candidate's fake camera picture and audio level live, and the media events."""
    from tests.web.test_side_by_side import hr_login, open_detail

    iv = await create(hub, org, questions=1)
    iv_id = iv["interview_id"]
    hr = await hr_login(new_context, org)
    _, page = await candidate(new_context)
    await enter(page, iv["link"])
    await open_detail(hr, iv_id)
    frame = hr.locator("#live-frame")
    await expect(frame).to_be_visible(timeout=20_000)
    await expect(hr.locator("#live-level")).to_have_attribute("data-level", re.compile(r"\d+"))
    await expect(hr.locator("#events li[data-kind='media']").first).to_contain_text("connected")
    await page.type("#answer", "with the camera on", delay=10)
    await saved(page)
    await screenshot(hr, "hr-detail-camera-desktop")
    await page.click("#finish")  # the answer is closed; its recording is ready to play
    await expect(page.locator("#stopped-title")).to_be_visible()
    await hr.reload()  # the detail (its hash route) again, with the stored media counted
    await expect(hr.locator("#detail")).to_have_attribute("data-id", iv_id)
    play = hr.locator("[data-testid='answer'][data-q='0'] [data-testid='recording-open']")
    await expect(play).to_be_visible()
    await play.click()
    video = hr.locator("[data-testid='answer'][data-q='0'] video[data-testid='recording']")
    await expect(video).to_be_visible()
    duration = await video.evaluate(
        "v => new Promise(ok => v.readyState >= 1 ? ok(v.duration) : v.addEventListener('loadedmetadata', () => ok(v.duration)))"
    )
    assert duration > 0  # Chromium reads the WebM the hub assembled
    href = await hr.locator("[data-testid='recording-download']").first.get_attribute("href")
    assert href.endswith("/answers/0/recording.webm")
    no_js_errors(hr)
    no_js_errors(page)
