"""The notice and consent screen of the candidate web app, in Chromium (docs/privacy.md)."""

from __future__ import annotations

import asyncio
import json

import httpx
from playwright.async_api import Page, expect

from tests.conftest import PHONE, Hub, Org, keyed_store
from tests.web.conftest import PHONE as PHONE_SCREEN
from tests.web.conftest import new_page, no_js_errors, screenshot
from tests.web.test_candidate import agree, candidate, create, no_sideways_scroll, saved


async def meta_of(hub: Hub, iv_id: str) -> dict[str, str]:
    store = keyed_store(hub.redis_url)
    try:
        return await store.meta(iv_id)
    finally:
        await store.close()


async def focused(page: Page) -> str:
    return str(await page.evaluate("document.activeElement && document.activeElement.id"))


async def test_the_notice_is_shown_first_works_by_keyboard_on_a_phone_in_both_languages(
    hub: Hub, org: Org, new_context
) -> None:
    """Before anything is recorded the page shows the notice (what is recorded, AI's part, who decides, the organisation's retention, the rights) in zh-CN and en at phone width; it cannot go on without agreeing; the keyboard alone makes the choices, and they are recorded."""
    iv = await create(hub, org, questions=1)
    async with httpx.AsyncClient(base_url=hub.http) as http:
        days = (await http.get("/api/hr/retention", headers=org.auth("admin"))).json()
    retention = days["retention_days"]
    _, page = await candidate(
        new_context, locale="zh-CN", viewport=PHONE_SCREEN, is_mobile=True, has_touch=True
    )
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    await page.goto(iv["link"])
    await page.fill("#identity", PHONE)
    await page.press("#identity", "Enter")
    await expect(page.locator("#screen-consent")).to_be_visible()
    await expect(page.locator("#consent-title")).to_have_text("开始之前：您的数据与您的选择")
    await expect(page.locator("#consent-title")).to_be_focused()
    notice = page.locator("#consent-notice")
    await expect(notice).to_contain_text("绝不会根据您的面部、声音特征或情绪作出判断")
    await expect(notice).to_contain_text("AI 评分仅供参考")
    await expect(page.locator("#consent-kept")).to_have_text(
        f"面试结束后保存 {retention} 天，之后删除。"
    )
    await expect(page.locator("#consent-camera")).not_to_be_checked()  # opt-in, never pre-ticked
    await expect(page.locator("#consent-human")).not_to_be_checked()
    await no_sideways_scroll(page)
    size = await page.eval_on_selector(
        "#consent-notice dd", "e => parseFloat(getComputedStyle(e).fontSize)"
    )
    assert size >= 14
    await screenshot(page, "candidate-consent-zh-phone")
    # without agreeing: refused on the page, nothing recorded, no socket
    await page.click("#consent-continue")
    await expect(page.locator("#consent-error")).to_have_text("请先勾选同意后再继续。")
    await expect(page.locator("#consent-agree")).to_be_focused()
    assert "review" not in await meta_of(hub, iv["interview_id"])
    # the other language, then the keyboard alone
    await page.select_option("#lang", "en")
    await expect(page.locator("#consent-title")).to_have_text(
        "Before you start: your data and your choices"
    )
    await expect(page.locator("#consent-kept")).to_have_text(
        f"{retention} days after the interview is over; then it is erased."
    )
    await expect(notice).to_contain_text("It never judges your face")
    await expect(notice).to_contain_text("A person at the organisation that invited you")
    await expect(notice).to_contain_text("human-only review")
    await page.locator("#consent-title").focus()
    await page.keyboard.press("Tab")
    assert await focused(page) == "consent-camera"
    await page.keyboard.press("Tab")
    assert await focused(page) == "consent-human"
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    assert await focused(page) == "consent-agree"
    await page.keyboard.press("Space")
    await expect(page.locator("#consent-agree")).to_be_checked()
    await page.keyboard.press("Tab")
    assert await focused(page) == "consent-continue"
    await page.keyboard.press("Enter")
    await expect(page.locator("#screen-device")).to_be_visible()
    await expect(page.locator("#check-camera")).to_have_attribute("data-status", "off")
    meta = await meta_of(hub, iv["interview_id"])
    assert (meta["review"], meta["camera"], meta["consent_notice"]) == ("human_only", "off", "1")
    assert not sockets  # nothing joined before the choices were recorded
    no_js_errors(page)


GUM_SPY = """
window.__gum = [];
const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = (constraints) => {
  window.__gum.push(JSON.stringify(constraints));
  return original(constraints);
};
"""


async def test_camera_off_never_opens_the_camera_and_the_hub_keeps_no_video(
    hub: Hub, org: Org, new_context
) -> None:
    """Without camera consent the page never asks for video (device check and interview), says the microphone alone records, and Redis holds audio seconds and no frame."""
    iv = await create(hub, org, questions=1)
    iv_id = iv["interview_id"]
    context = await new_context()
    page = await new_page(context)
    await page.add_init_script(GUM_SPY)
    await page.goto(iv["link"])
    await page.fill("#identity", PHONE)
    await page.click("#verify")
    await agree(page, camera=False)
    await expect(page.locator("#check-camera")).to_have_attribute("data-status", "off")
    await expect(page.locator("#check-microphone")).to_have_attribute("data-status", "ok")
    await expect(page.locator("#preview")).to_be_hidden()
    await page.click("#device-continue")
    await page.click("#interview-start")
    await expect(page.locator("#screen-question")).to_be_visible()
    await expect(page.locator("#question-number")).not_to_be_empty()
    status = page.locator("#media-status")
    await expect(status).to_have_attribute("data-state", "connected", timeout=20_000)
    await expect(status).to_have_text("Microphone: recording (camera off)")
    await expect(page.locator("#self-view")).to_be_hidden()
    await page.type("#answer", "voice and text only", delay=10)
    await saved(page)
    store = keyed_store(hub.redis_url)
    try:
        for _ in range(100):  # until two seconds of audio are in (bounded)
            if sum(e["kind"] == "pcm16k" for e in await store.media(iv_id)) >= 2:
                break
            await asyncio.sleep(0.2)
        kinds = [e["kind"] for e in await store.media(iv_id)]
        events = [e for e in await store.events(iv_id) if e["kind"] == "media"]
    finally:
        await store.close()
    assert kinds.count("pcm16k") >= 2 and "jpeg" not in kinds
    assert not any(e["state"] == "video_not_stored" for e in events)  # none was even sent
    asked = [json.loads(c) for c in await page.evaluate("window.__gum")]
    assert len(asked) == 2  # the device check and the interview
    assert all(c["video"] is False and c["audio"] is True for c in asked)
    no_js_errors(page)


async def test_human_only_review_can_be_asked_for_later_from_the_centre(
    hub: Hub, org: Org, new_context
) -> None:
    """After agreeing to AI-assisted review and leaving, the candidate centre offers human-only review; asking records it (and the log), and the centre then says it was requested and offers no way back."""
    iv = await create(hub, org, questions=2, second_entry=True)
    iv_id = iv["interview_id"]
    _, page = await candidate(new_context, locale="zh-CN")
    await page.goto(iv["link"])
    await page.fill("#identity", PHONE)
    await page.click("#verify")
    await agree(page)
    await page.click("#device-continue")
    await page.click("#interview-start")
    await expect(page.locator("#screen-question")).to_be_visible()
    await expect(page.locator("#question-number")).not_to_be_empty()
    await page.type("#answer", "an answer", delay=5)
    await saved(page)
    await page.click("#exit-open")
    await page.click("#exit-confirm")
    await page.click("#stopped-centre")
    ask = page.locator("#ask-human-only")
    await expect(ask).to_have_text("要求仅人工评估")
    assert (await meta_of(hub, iv_id))["review"] == "ai"
    await ask.focus()
    await page.keyboard.press("Enter")
    item = page.locator(f"#centre-list li[data-id='{iv_id}']")
    await expect(item.locator("[data-review='human_only']")).to_have_text(
        "已要求仅人工评估：不计算 AI 评分。"
    )
    await expect(page.locator("#ask-human-only")).to_have_count(0)
    assert (await meta_of(hub, iv_id))["review"] == "human_only"
    store = keyed_store(hub.redis_url)
    try:
        entries = [e for e in await store.oplog(iv_id) if e["action"] == "consent"]
    finally:
        await store.close()
    assert [e["detail"]["review"] for e in entries] == ["ai", "human_only"]
    no_js_errors(page)


async def test_hr_detail_shows_the_candidates_choices_in_both_languages(
    hub: Hub, org: Org, new_context
) -> None:
    """HR's interview detail says plainly what the candidate chose (human-only review, camera off, when) in en and zh-CN, "not recorded" for an interview whose candidate never saw the notice, and a choice made while HR watches at once (event `consent`)."""
    from tests.web.test_side_by_side import hr_login, open_detail

    chosen = await create(hub, org, questions=1)
    silent = await create(hub, org, questions=1)
    body = {"token": chosen["token"], "identity": PHONE, "review": "human_only"}
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post(
            "/api/candidate/consent", json={**body, "camera": False, "notice_version": "1"}
        )
    assert r.status_code == 200, r.text
    hr = await hr_login(new_context, org)
    await open_detail(hr, chosen["interview_id"])
    choices = hr.locator("#detail-consent")
    await expect(choices).to_have_attribute("data-review", "human_only")
    await expect(choices).to_contain_text("human-only review requested: no AI scores")
    await expect(choices).to_contain_text("camera off (voice and text only)")
    await expect(choices).to_contain_text("chosen ")
    await expect(hr.locator("#media-note")).to_have_text(
        "No camera: the candidate chose voice and text only."
    )
    await screenshot(hr, "hr-detail-consent-desktop")
    await hr.select_option("#lang-select", "zh-CN")
    await expect(choices).to_contain_text("要求仅人工评估：不计算 AI 评分")
    await expect(choices).to_contain_text("不录制摄像头")
    await hr.click("#detail a.back")
    await open_detail(hr, silent["interview_id"])
    await expect(choices).to_have_attribute("data-review", "")
    await expect(choices).to_have_text("未记录（候选人未经过告知页）")
    # a choice made while HR watches shows at once, with its event
    body = {"token": silent["token"], "identity": PHONE, "review": "ai", "camera": True}
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post("/api/candidate/consent", json={**body, "notice_version": "1"})
    assert r.status_code == 200, r.text
    await expect(hr.locator("#events li[data-kind='consent']")).to_contain_text("同意 AI 辅助评估")
    await expect(choices).to_have_attribute("data-review", "ai")
    await expect(choices).to_contain_text("同意录制摄像头")
    no_js_errors(hr)
