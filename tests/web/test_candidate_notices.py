"""What the candidate page tells when things change under it: a dead network, the camera
stopping, HR's end, another device (issue 13, items 2-4)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from playwright.async_api import Page, expect

from client.candidate import CandidateClient, ClientClosed
from protocol.closecodes import CloseCode
from server.settings import Settings
from tests.conftest import PHONE, Hub, Org, start_hub
from tests.web.conftest import PHONE as PHONE_SCREEN
from tests.web.conftest import new_page, no_js_errors, screenshot
from tests.web.test_candidate import candidate, create, enter, once_each, saved, stored
from tests.web.test_candidate_recovery import BLOCK, UNBLOCK, hr, hub_behind_a_fault_proxy
from tests.web.test_console import login, open_detail

LAPTOP = {"width": 1366, "height": 768}
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0 Mobile Safari/537.36"
)
# Every track the page ever got from getUserMedia (the device check's and each media link's),
# so a test can see that all of them were stopped: the camera light is off.
RECORD_TRACKS = """
window.__tracks = [];
const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (constraints) => {
  const stream = await getUserMedia(constraints);
  window.__tracks.push(...stream.getTracks());
  return stream;
};
"""
ALL_TRACKS_ENDED = (
    "window.__tracks.length > 0 && window.__tracks.every((t) => t.readyState === 'ended')"
)


async def tracks_ended(page: Page) -> bool:
    return bool(await page.evaluate(ALL_TRACKS_ENDED))


async def recording_page(new_context: Any, **kw: Any) -> Page:
    context = await new_context(**kw)
    await context.add_init_script(RECORD_TRACKS)
    return await new_page(context)


async def until(page: Page, script: str) -> None:
    """Wait for a condition of the page's state (its CSP forbids wait_for_function)."""
    for _ in range(600):  # a bound for a hung test only
        if await page.evaluate(script):
            return
        await page.wait_for_timeout(100)
    raise AssertionError(f"never true: {script}")


def test_a_dead_connection_is_noticed_within_ten_seconds_by_default() -> None:
    """The hub's keep-alive (ping interval + pong timeout) drops a silent socket within 10 s by default, so HR sees the connection lost that soon."""
    settings = Settings()
    assert settings.ws_ping_interval_s + settings.ws_ping_timeout_s <= 10


async def test_a_dead_network_shows_an_offline_banner_and_hr_sees_it_lost(
    hub: Hub, org: Org, new_context, tmp_path
) -> None:
    """A network path gone silent: the page notices within 10 s by its own heartbeat's numbers and shows the offline banner (saved on this device, sent when back; en and zh-CN, in view on a phone); HR's live view says the connection is lost, not connected; when the path returns everything is stored once."""
    with hub_behind_a_fault_proxy(hub, tmp_path) as (path, own, origin):
        ivs = [await create(hub, org, questions=1) for _ in range(2)]
        pages = []
        for iv, kw in zip(
            ivs,
            [{"locale": "en-US"}, {"locale": "zh-CN", "viewport": PHONE_SCREEN}],
            strict=True,
        ):
            _, page = await candidate(new_context, base_url=origin, **kw)
            await enter(page, iv["link"].replace(hub.http, origin))
            await page.type("#answer", "before the tunnel. ", delay=5)
            await saved(page)
            pages.append(page)
        en, zh = pages
        heartbeat = (
            "import('/web/candidate/transport.js').then((m) => m.HEARTBEAT_MS + m.SILENCE_MS)"
        )
        assert await en.evaluate(heartbeat) <= 10_000  # silence is noticed within 10 s
        console = await login(new_context, org, "recruiter", base_url=own.http)
        await open_detail(console, ivs[0]["interview_id"])
        connection = console.locator("#detail-connected")
        await expect(connection).to_have_attribute("data-connection", "on")
        await expect(zh.locator("#conn")).to_be_hidden()

        path.blackhole(True)
        for page in pages:
            await page.type("#answer", "typed in the tunnel", delay=5)
        banner_en, banner_zh = en.locator("#conn"), zh.locator("#conn")
        await expect(banner_en).to_contain_text(
            "What you write is saved on this device and will be sent when the connection is back"
        )
        await expect(banner_zh).to_contain_text("您的作答已保存在本设备，连接恢复后将自动发送")
        await expect(en.locator("#save-state")).to_have_attribute("data-state", "offline")
        await zh.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        await expect(banner_zh).to_be_in_viewport()  # sticky under the bar on a phone
        await screenshot(zh, "candidate-offline-phone")
        await expect(connection).to_have_attribute("data-connection", "interrupted")
        await expect(connection).not_to_have_text("connected")
        zh_row = console.locator(
            f'[data-testid="iv-row"][data-id="{ivs[1]["interview_id"]}"] [data-field="connected"]'
        )
        await expect(zh_row).to_have_attribute("data-connection", "interrupted")

        path.blackhole(False)
        for page, iv in zip(pages, ivs, strict=True):
            await saved(page)
            await expect(page.locator("#conn")).to_be_hidden()
            texts, seqs, _ = await stored(hub, iv["interview_id"])
            assert texts[0] == "before the tunnel. typed in the tunnel"
            assert once_each(seqs[0])
        await expect(connection).to_have_attribute("data-connection", "on")
        for page in pages:
            no_js_errors(page, allowed=("WebSocket",))


async def test_the_camera_status_stops_saying_recording_and_the_tracks_stop(
    hub: Hub, org: Org, new_context
) -> None:
    """During an outage and after HR's end the status no longer says "recording" (en and zh-CN), the self view goes, and every camera and microphone track is stopped (the camera light goes off)."""
    iv = await create(hub, org, questions=2)
    page = await recording_page(new_context, locale="zh-CN")
    await enter(page, iv["link"])
    status = page.locator("#media-status")
    await expect(status).to_have_attribute("data-state", "connected")
    await expect(status).to_have_text("摄像头和麦克风：正在录制")
    await page.evaluate(BLOCK)  # the connection is down: nothing reaches the hub
    await expect(status).to_have_attribute("data-state", "paused")
    await expect(status).to_have_text("摄像头和麦克风：连接中断，暂停录制")
    await expect(page.locator("#self-view")).to_be_hidden()
    assert await tracks_ended(page)
    await page.evaluate(UNBLOCK)
    await expect(status).to_have_attribute("data-state", "connected")  # recording again
    await expect(page.locator("#self-view")).to_be_visible()

    ended = await create(hub, org, questions=2)
    en = await recording_page(new_context, locale="en-US", viewport=LAPTOP)
    await enter(en, ended["link"])
    en_status = en.locator("#media-status")
    await expect(en_status).to_have_attribute("data-state", "connected")
    await hr(
        hub, org, "POST", f"/api/hr/interviews/{ended['interview_id']}/end", json={"confirm": True}
    )
    await expect(en.locator("#stopped-title")).to_have_text("The interview was ended by HR")
    await expect(en_status).to_have_attribute("data-state", "stopped")
    await expect(en_status).to_have_text("Camera and microphone: recording stopped")
    await expect(en.locator("#self-view")).to_be_hidden()
    await until(en, ALL_TRACKS_ENDED)
    no_js_errors(page)
    no_js_errors(en)


async def test_stop_notices_come_first_and_a_takeover_is_asked_first(
    hub: Hub, org: Org, new_context
) -> None:
    """A second device is warned (naming the first) before it takes over, and the first goes on meanwhile; "opened on another device" and "HR ended this interview" show at the top, in view at 1366x768 and 390x844 (en, zh-CN); reloading the old tab asks before taking the interview back."""
    iv = await create(hub, org, questions=3)
    iv_id = iv["interview_id"]
    laptop = await recording_page(new_context, locale="en-US", viewport=LAPTOP)
    await enter(laptop, iv["link"])
    await laptop.fill("#answer", "written on the laptop. " * 40)  # a long answer
    await saved(laptop)

    phone = await recording_page(
        new_context,
        locale="zh-CN",
        viewport=PHONE_SCREEN,
        is_mobile=True,
        has_touch=True,
        user_agent=ANDROID,
    )
    await phone.goto(iv["link"])
    await phone.fill("#identity", PHONE)
    await phone.click("#verify")
    await expect(phone.locator("#screen-takeover")).to_be_visible()
    await expect(phone.locator("#takeover-title")).to_have_text("本次面试正在另一台设备上进行")
    await expect(phone.locator("#takeover-message")).to_contain_text("Chrome · Linux computer")
    await screenshot(phone, "candidate-takeover-ask-phone")
    # asked, not yet taken: the laptop goes on
    await expect(laptop.locator("#screen-question")).to_be_visible()
    await laptop.type("#answer", "still here.", delay=0)
    await saved(laptop)
    assert (await hr(hub, org, "GET", f"/api/hr/interviews/{iv_id}"))["connected"] is True
    await phone.click("#takeover-continue")
    await expect(phone.locator("#answer")).to_have_value(
        "written on the laptop. " * 40 + "still here."
    )

    # the laptop's notice is at the top and in view, above its locked question
    title = laptop.locator("#stopped-title")
    await expect(title).to_have_text("Opened on another device")
    await expect(laptop.locator("#stopped-message")).to_contain_text("Chrome · Android")
    await expect(title).to_be_in_viewport()
    await expect(laptop.locator("#stopped-message")).to_be_in_viewport()
    await expect(laptop.locator("#answer")).to_be_disabled()
    await until(laptop, ALL_TRACKS_ENDED)
    await screenshot(laptop, "candidate-taken-over-desktop")

    # reloading the old tab asks before taking the interview back
    await laptop.reload()
    await expect(laptop.locator("#screen-takeover")).to_be_visible()
    await expect(laptop.locator("#takeover-title")).to_have_text(
        "This interview is open on another device"
    )
    await expect(laptop.locator("#takeover-message")).to_contain_text("Chrome · Android")
    await laptop.click("#takeover-cancel")
    await expect(laptop.locator("#screen-centre")).to_be_visible()
    await expect(phone.locator("#screen-question")).to_be_visible()
    assert (await hr(hub, org, "GET", f"/api/hr/interviews/{iv_id}"))["connected"] is True

    # HR ends: the phone's notice is at the top, in view
    await phone.locator("#answer").press("End")
    await phone.type("#answer", " 手机上继续", delay=5)
    await saved(phone)
    await phone.locator("#answer").evaluate("a => a.scrollIntoView({block: 'end'})")
    await hr(
        hub,
        org,
        "POST",
        f"/api/hr/interviews/{iv_id}/end",
        json={"confirm": True, "note": "面试官有事"},
    )
    await expect(phone.locator("#stopped-title")).to_have_text("HR 已结束本次面试")
    for part in ("#stopped-title", "#stopped-message", "#stopped-note"):
        await expect(phone.locator(part)).to_be_in_viewport()
    await expect(phone.locator("#media-status")).to_have_text("摄像头和麦克风：已停止录制")
    await screenshot(phone, "candidate-ended-phone")
    texts, seqs, state = await stored(hub, iv_id)
    assert state == "ended" and once_each(seqs[0])
    assert texts[0] == "written on the laptop. " * 40 + "still here. 手机上继续"
    no_js_errors(laptop)
    no_js_errors(phone)


async def test_a_recording_at_its_limit_stops_the_camera(
    hub: Hub, org: Org, new_context, tmp_path
) -> None:
    """When the hub stores no more media (the interview's limit), the page says so and stops every track, so the camera light does not stay on while nothing is recorded."""
    own = start_hub(hub.redis_url, tmp_path, HUB_MAX_MEDIA_ENTRIES="2")
    try:
        iv = await create(hub, org, questions=1)
        page = await recording_page(new_context, base_url=own.http)
        await enter(page, iv["link"].replace(hub.http, own.http))
        status = page.locator("#media-status")
        await expect(status).to_have_attribute("data-state", "limited")
        await expect(status).to_contain_text("reached its length limit")
        await expect(page.locator("#self-view")).to_be_hidden()
        await until(page, ALL_TRACKS_ENDED)
        await page.type("#answer", "still typing", delay=5)
        await saved(page)  # the answer goes on as usual
        no_js_errors(page)
    finally:
        own.stop()


async def test_a_device_back_from_a_drop_asks_before_taking_the_interview_back(
    hub: Hub, org: Org, new_context
) -> None:
    """A laptop offline while a phone took the interview over: when its network returns it does not take it back unasked; it names the phone and takes it back only when told to, and the phone then says why it stopped."""
    iv = await create(hub, org, questions=1)
    iv_id = iv["interview_id"]
    laptop = await recording_page(new_context, locale="en-US", viewport=LAPTOP)
    await enter(laptop, iv["link"])
    await laptop.type("#answer", "common. ", delay=5)
    await saved(laptop)
    await laptop.evaluate(BLOCK)
    await expect(laptop.locator("#conn")).to_be_visible()
    for _ in range(600):  # until the hub has recorded the laptop's drop (bounded)
        if not (await hr(hub, org, "GET", f"/api/hr/interviews/{iv_id}"))["connected"]:
            break
        await asyncio.sleep(0.1)
    phone = await recording_page(
        new_context, locale="zh-CN", viewport=PHONE_SCREEN, is_mobile=True, user_agent=ANDROID
    )
    await phone.goto(iv["link"])
    await phone.fill("#identity", PHONE)
    await phone.click("#verify")
    await expect(phone.locator("#answer")).to_have_value("common. ")  # nobody held it: no ask
    await phone.locator("#answer").press("End")
    await phone.type("#answer", "from the phone", delay=5)
    await saved(phone)

    await laptop.evaluate(UNBLOCK)  # the laptop's network is back
    await expect(laptop.locator("#screen-takeover")).to_be_visible()
    await expect(laptop.locator("#takeover-title")).to_have_text(
        "This interview is open on another device"
    )
    await expect(laptop.locator("#takeover-message")).to_contain_text("Chrome · Android")
    await expect(laptop.locator("#conn")).to_be_hidden()
    await expect(phone.locator("#screen-question")).to_be_visible()  # the phone goes on
    await phone.type("#answer", ", still", delay=5)
    await saved(phone)
    assert (await hr(hub, org, "GET", f"/api/hr/interviews/{iv_id}"))["connected"] is True

    await laptop.click("#takeover-continue")  # now, and only now, it takes it back
    await expect(laptop.locator("#answer")).to_have_value("common. from the phone, still")
    await expect(phone.locator("#stopped-title")).to_have_text("已在其他设备上打开")
    await expect(phone.locator("#stopped-title")).to_be_in_viewport()
    texts, seqs, _ = await stored(hub, iv_id)
    assert texts[0] == "common. from the phone, still" and once_each(seqs[0])
    no_js_errors(laptop)
    no_js_errors(phone)


async def test_a_tab_opened_again_on_the_holding_device_is_not_asked(
    hub: Hub, org: Org, new_context
) -> None:
    """A second tab while the first still holds the interview asks first; a tab opened on the device whose earlier socket the hub still holds (its device id, `connected_here`) goes on at once and takes that socket over."""
    iv = await create(hub, org, questions=2)
    context, first = await candidate(new_context)
    await enter(first, iv["link"])
    await first.type("#answer", "typed in the first tab. ", delay=5)
    await saved(first)
    device_id = await first.evaluate("localStorage.getItem('interview-hub.device-id')")
    assert device_id and len(device_id) == 32

    second = await new_page(context)  # the first tab is still open: asked like a device
    await second.goto(iv["link"])
    await second.fill("#identity", PHONE)
    await second.click("#verify")
    await expect(second.locator("#screen-takeover")).to_be_visible()
    await second.click("#takeover-cancel")
    await expect(second.locator("#screen-centre")).to_be_visible()
    await expect(first.locator("#screen-question")).to_be_visible()

    # this device's earlier socket, which the hub still holds, while no tab has it open
    earlier = CandidateClient(hub.ws, iv["token"], PHONE, device="Chrome", device_id=device_id)
    await earlier.join()
    await expect(first.locator("#stopped-title")).to_have_text("Opened on another device")
    await first.close()
    third = await new_page(context)
    await third.goto(iv["link"])
    await third.fill("#identity", PHONE)
    await third.click("#verify")
    await expect(third.locator("#answer")).to_have_value("typed in the first tab. ")
    with contextlib.suppress(ClientClosed, TimeoutError):
        while True:
            await earlier.next_message(timeout=60)
    assert earlier.close_code == CloseCode.TAKEN_OVER
    await third.type("#answer", "and the third.", delay=5)
    await saved(third)
    texts, seqs, _ = await stored(hub, iv["interview_id"])
    assert texts[0] == "typed in the first tab. and the third." and once_each(seqs[0])
    no_js_errors(third)


async def test_contact_hr_names_the_contact_the_organisation_set(
    hub: Hub, fresh_org: Org, new_context
) -> None:
    """ "Contact HR" leads somewhere: the organisation's HR contact (name, a tel: and a mailto: link) shows on the ended notice and in the centre, in zh-CN and en; with none set, nothing is shown."""
    bare = await create(hub, fresh_org, questions=1)
    _, before = await candidate(new_context, locale="zh-CN")
    await enter(before, bare["link"])
    await hr(
        hub,
        fresh_org,
        "POST",
        f"/api/hr/interviews/{bare['interview_id']}/end",
        json={"confirm": True},
    )
    await expect(before.locator("#stopped-title")).to_have_text("HR 已结束本次面试")
    await expect(before.locator("#stopped-contact")).to_be_hidden()  # none set yet

    contact = {
        "hr_contact_name": "李伟（招聘部）",
        "hr_contact_phone": "+86 10 5555 0100",
        "hr_contact_email": "hr@example.com",
    }
    await hr(hub, fresh_org, "PUT", "/api/hr/org", json=contact)
    iv = await create(hub, fresh_org, questions=2)
    _, page = await candidate(new_context, locale="zh-CN", viewport=PHONE_SCREEN)
    await enter(page, iv["link"])
    await hr(
        hub,
        fresh_org,
        "POST",
        f"/api/hr/interviews/{iv['interview_id']}/end",
        json={"confirm": True},
    )
    await expect(page.locator("#stopped-title")).to_have_text("HR 已结束本次面试")
    shown = page.locator("#stopped-contact")
    await expect(shown).to_have_text(
        "HR 联系方式：李伟（招聘部） · +86 10 5555 0100 · hr@example.com"
    )
    await expect(shown.locator("a").nth(0)).to_have_attribute("href", "tel:+861055550100")
    await expect(shown.locator("a").nth(1)).to_have_attribute("href", "mailto:hr@example.com")
    await expect(shown).to_be_in_viewport()
    await screenshot(page, "candidate-contact-hr-phone-zh")
    await page.select_option("#lang", "en")
    await expect(shown).to_contain_text("Contact HR: 李伟（招聘部） · +86 10 5555 0100")
    await page.click("#stopped-centre")
    await expect(page.locator("#centre-contact")).to_have_text(
        "Contact HR: 李伟（招聘部） · +86 10 5555 0100 · hr@example.com"
    )
    no_js_errors(page)
    no_js_errors(before)


async def test_a_closed_interview_lets_the_candidate_ask_hr_once_and_hr_sees_it(
    hub: Hub, fresh_org: Org, new_context
) -> None:
    """From a closed interview's centre the candidate asks HR for more time (zh-CN): the page says so and offers no second ask, also when opened again; HR's list and interview show the request (en) until a reset answers it."""
    iv = await create(hub, fresh_org, questions=1)
    iv_id = iv["interview_id"]
    context, page = await candidate(new_context, locale="zh-CN", viewport=PHONE_SCREEN)
    await enter(page, iv["link"])
    await hr(hub, fresh_org, "POST", f"/api/hr/interviews/{iv_id}/end", json={"confirm": True})
    await expect(page.locator("#stopped-title")).to_have_text("HR 已结束本次面试")
    await page.click("#stopped-centre")
    item = page.locator(f"#centre-list li[data-id='{iv_id}']")
    await item.locator("button[data-help='more_time']").click()
    status = item.locator(".help-state")
    await expect(status).to_have_attribute("data-kind", "more_time")
    await expect(status).to_contain_text("向 HR 申请延长时间。HR 已收到")
    await expect(item.locator("button[data-help='more_time']")).to_have_count(0)
    await expect(item.locator("button[data-help='reset']")).to_have_text("向 HR 申请重新面试")
    await screenshot(page, "candidate-help-asked-phone-zh")

    again = await new_page(context)  # opened again: the hub says what is pending
    await again.goto(iv["link"])
    await again.fill("#identity", PHONE)
    await again.click("#verify")
    reopened = again.locator(f"#centre-list li[data-id='{iv_id}']")
    await expect(reopened.locator(".help-state")).to_have_attribute("data-kind", "more_time")
    await expect(reopened.locator("button[data-help='more_time']")).to_have_count(0)

    admin = await login(new_context, fresh_org, "admin", locale="en-US")
    row = admin.locator(f'[data-testid="iv-row"][data-id="{iv_id}"]')
    await expect(row.locator('[data-field="help"]')).to_have_text("asks for more time")
    await admin.goto(f"/hr#iv/{iv_id}")
    await expect(admin.locator("#detail")).to_have_attribute("data-id", iv_id)
    await expect(admin.locator("#detail-help")).to_contain_text("The candidate asked for more time")
    await hr(hub, fresh_org, "POST", f"/api/hr/interviews/{iv_id}/reset", json={"confirm": True})
    detail = await hr(hub, fresh_org, "GET", f"/api/hr/interviews/{iv_id}")
    assert detail["help_request"] == {"kind": "", "requested_ms": 0}
    no_js_errors(page)
    no_js_errors(again)
    no_js_errors(admin)
