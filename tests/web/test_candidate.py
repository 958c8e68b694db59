"""The candidate web app in Debian's Chromium against a real hub and Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from client.candidate import CandidateClient
from protocol.answers import fold_text
from tests.conftest import ID_NUMBER, PHONE, Hub, Org, interview_body, keyed_store
from tests.web.conftest import PHONE as PHONE_SCREEN
from tests.web.conftest import new_page, no_js_errors, screenshot


async def create(hub: Hub, org: Org, questions: int = 3, **policy: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post(
            "/api/hr/interviews",
            json=interview_body(questions, **policy),
            headers=org.auth("admin"),
        )
    assert r.status_code == 201, r.text
    return r.json()


async def stored(hub: Hub, iv_id: str) -> tuple[dict[int, str], dict[int, list[int]], str]:
    """Per question: the folded text and the stored seqs; and the interview's state."""
    store = keyed_store(hub.redis_url)
    try:
        chunks = await store.chunks(iv_id)
        state = (await store.meta(iv_id)).get("state", "")
    finally:
        await store.close()
    texts: dict[int, str] = {}
    seqs: dict[int, list[int]] = {}
    for q in sorted({c["q"] for c in chunks}):
        mine = [c for c in chunks if c["q"] == q]
        texts[q] = fold_text(c["data"] for c in mine)
        seqs[q] = [c["seq"] for c in mine]
    return texts, seqs, state


def once_each(seqs: list[int]) -> bool:
    return seqs == list(range(1, len(seqs) + 1))


async def agree(page: Page, camera: bool = True, human_only: bool = False) -> None:
    """The notice before recording: make the choices and agree (recorded before the join)."""
    await expect(page.locator("#screen-consent")).to_be_visible()
    if camera:
        await page.check("#consent-camera")
    if human_only:
        await page.check("#consent-human")
    await page.check("#consent-agree")
    await page.click("#consent-continue")


async def enter(page: Page, link: str, identity: str = PHONE) -> None:
    """Open the invitation, verify, agree to the notice (camera on), pass the device check and
    start the interview."""
    await page.goto(link)
    await page.fill("#identity", identity)
    await page.click("#verify")
    await agree(page)
    await expect(page.locator("#screen-device")).to_be_visible()
    await expect(page.locator("#check-camera")).to_have_attribute("data-status", "ok")
    await page.click("#device-continue")
    await page.click("#interview-start")
    await expect(page.locator("#screen-question")).to_be_visible()


async def saved(page: Page) -> None:
    await expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")


async def candidate(new_context: Any, **kw: Any) -> tuple[BrowserContext, Page]:
    context = await new_context(**kw)
    return context, await new_page(context)


async def test_verify_answer_exit_and_centre(hub: Hub, org: Org, new_context) -> None:
    """Verify, answer two questions, exit with the real % in the confirm, land in the centre; Redis has every character once."""
    iv = await create(hub, org, questions=3, second_entry=True)
    _, page = await candidate(new_context)
    await enter(page, iv["link"], ID_NUMBER)
    await screenshot(page, "candidate-question-desktop")
    await page.type("#answer", "First answer, 第一题 😀", delay=5)
    await saved(page)
    await page.click("#finish")
    await expect(page.locator("#question-number")).to_have_text("Question 2 of 3")
    await expect(page.locator("#progress")).to_have_attribute("data-percent", "33")
    await page.type("#answer", "half of the second", delay=5)
    await saved(page)
    await page.click("#exit-open")
    await expect(page.locator("#exit-dialog")).to_be_visible()
    await expect(page.locator("#exit-progress")).to_have_attribute("data-percent", "33")
    await expect(page.locator("#exit-progress")).to_contain_text("33%")
    await expect(page.locator("#exit-reentry")).to_contain_text("come back once")
    await expect(page.locator("#exit-cancel")).to_be_focused()  # Enter means "stay"
    await screenshot(page, "candidate-exit-confirm-desktop")
    await page.click("#exit-confirm")
    await expect(page.locator("#stopped-title")).to_have_text("You have left the interview")
    await page.click("#stopped-centre")
    item = page.locator(f"#centre-list li[data-id='{iv['interview_id']}']")
    await expect(item).to_have_attribute("data-state", "exited")
    await expect(item).to_contain_text("come back once")
    await screenshot(page, "candidate-centre-desktop")
    texts, seqs, state = await stored(hub, iv["interview_id"])
    assert state == "exited"
    assert texts == {0: "First answer, 第一题 😀", 1: "half of the second"}
    assert all(once_each(s) for s in seqs.values())
    no_js_errors(page)


async def test_edits_anywhere_in_the_answer_reach_redis(hub: Hub, org: Org, new_context) -> None:
    """Deleting and inserting in the middle of the answer is streamed as edits; Redis folds to exactly the box's text."""
    iv = await create(hub, org, questions=1)
    _, page = await candidate(new_context)
    await enter(page, iv["link"])
    box = page.locator("#answer")
    await box.type("the quick fox", delay=5)
    await saved(page)
    await box.press("Home")
    for _ in range(4):
        await box.press("ArrowRight")
    await box.type("brown-", delay=5)  # "the brown-quick fox"
    await box.press("End")
    await box.press("Backspace")
    await box.press("Backspace")  # "the brown-quick f"
    await box.type("rog", delay=5)
    await saved(page)
    expected = await box.input_value()
    assert expected == "the brown-quick frog"
    texts, seqs, _ = await stored(hub, iv["interview_id"])
    assert texts[0] == expected and once_each(seqs[0])
    no_js_errors(page)


async def test_network_cut_while_typing_loses_and_doubles_nothing(
    hub: Hub, org: Org, new_context
) -> None:
    """Offline mid-answer: the page says it keeps the text on this device; back online, every character is in Redis once."""
    iv = await create(hub, org, questions=1)
    context, page = await candidate(new_context)
    await enter(page, iv["link"])
    await page.type("#answer", "before the cut. ", delay=5)
    await saved(page)
    await context.set_offline(True)
    await page.evaluate(
        "window.__interviewHub.session.block()"
    )  # the socket drops with the network
    await page.type("#answer", "typed while offline. ", delay=5)
    await expect(page.locator("#save-state")).to_have_attribute("data-state", "offline")
    await expect(page.locator("#conn")).to_be_visible()
    await context.set_offline(False)
    await page.evaluate("window.__interviewHub.session.unblock()")
    await page.type("#answer", "after.", delay=5)
    await saved(page)
    await expect(page.locator("#conn")).to_be_hidden()
    texts, seqs, _ = await stored(hub, iv["interview_id"])
    assert texts[0] == "before the cut. typed while offline. after."
    assert once_each(seqs[0])
    no_js_errors(page, allowed=("ERR_INTERNET_DISCONNECTED", "WebSocket"))


async def test_reload_mid_answer_resends_from_indexeddb(hub: Hub, org: Org, new_context) -> None:
    """Text typed while the socket is down survives a reload (IndexedDB) and reaches Redis once after it."""
    iv = await create(hub, org, questions=2)
    _, page = await candidate(new_context)
    await enter(page, iv["link"])
    await page.type("#answer", "saved part; ", delay=5)
    await saved(page)
    await page.evaluate("window.__interviewHub.session.block()")
    await page.type("#answer", "only on this device", delay=5)
    await expect(page.locator("#save-state")).to_have_attribute("data-state", "offline")
    await page.type("#answer", "!", delay=0)
    await page.reload()  # at once: the last keystroke was never turned into a chunk
    # Same tab: the identity is remembered for the tab; the interview resumes by itself.
    await expect(page.locator("#screen-question")).to_be_visible()
    await expect(page.locator("#answer")).to_have_value("saved part; only on this device!")
    await saved(page)
    texts, seqs, _ = await stored(hub, iv["interview_id"])
    assert texts[0] == "saved part; only on this device!" and once_each(seqs[0])
    no_js_errors(page)


async def test_hr_end_locks_the_page_with_the_message(hub: Hub, org: Org, new_context) -> None:
    """HR ends while the candidate types: the page locks at once, shows HR's note, and the box cannot be typed in."""
    iv = await create(hub, org, questions=2)
    _, page = await candidate(new_context)
    await enter(page, iv["link"])
    await page.type("#answer", "typing when HR ends", delay=5)
    await saved(page)
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post(
            f"/api/hr/interviews/{iv['interview_id']}/end",
            json={"confirm": True, "note": "Thank you, we have enough."},
            headers=org.auth("interview_lead"),
        )
    assert r.status_code == 200, r.text
    await expect(page.locator("#stopped-title")).to_have_text("The interview was ended by HR")
    await expect(page.locator("#stopped-note")).to_contain_text("Thank you, we have enough.")
    await expect(page.locator("#answer")).to_be_disabled()
    await expect(page.locator("#exit-open")).to_be_hidden()
    await screenshot(page, "candidate-ended-desktop")
    texts, _, state = await stored(hub, iv["interview_id"])
    assert state == "ended" and texts[0] == "typing when HR ends"
    no_js_errors(page)


async def test_second_device_takes_over_and_shows_the_saved_text(
    hub: Hub, org: Org, new_context
) -> None:
    """The link opened on a phone asks, then takes over: the laptop says why it stopped; the phone shows the saved answer and goes on."""
    iv = await create(hub, org, questions=2)
    _, laptop = await candidate(new_context)
    await enter(laptop, iv["link"])
    await laptop.type("#answer", "written on the laptop. ", delay=5)
    await saved(laptop)
    _, phone = await candidate(
        new_context,
        viewport=PHONE_SCREEN,
        is_mobile=True,
        has_touch=True,
        user_agent=(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/130.0 Mobile Safari/537.36"
        ),
    )
    await phone.goto(iv["link"])
    await phone.fill("#identity", PHONE)
    await phone.click("#verify")
    # In progress on the laptop: asked first, then back into the question with what it saved.
    await expect(phone.locator("#takeover-message")).to_contain_text("Chrome · Linux computer")
    await phone.click("#takeover-continue")
    await expect(phone.locator("#answer")).to_have_value("written on the laptop. ")
    await expect(laptop.locator("#stopped-title")).to_have_text("Opened on another device")
    await expect(laptop.locator("#stopped-message")).to_contain_text("Android phone")
    await expect(laptop.locator("#answer")).to_be_disabled()
    await phone.locator("#answer").press("End")
    await phone.type("#answer", "continued on the phone", delay=5)
    await saved(phone)
    await screenshot(phone, "candidate-question-phone")
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_SCREEN["width"]  # no sideways scrolling on a phone
    texts, seqs, _ = await stored(hub, iv["interview_id"])
    assert texts[0] == "written on the laptop. continued on the phone" and once_each(seqs[0])
    no_js_errors(laptop)
    no_js_errors(phone)


@pytest.mark.parametrize("second_entry", [False, True])
async def test_reentry_refused_or_allowed(hub: Hub, org: Org, new_context, second_entry) -> None:
    """After an exit the link offers a return only when a second entry is allowed; it continues at the next question."""
    iv = await create(hub, org, questions=3, second_entry=second_entry)
    _, page = await candidate(new_context)
    await enter(page, iv["link"])
    await page.type("#answer", "first", delay=5)
    await saved(page)
    await page.click("#exit-open")
    expected = "come back once" if second_entry else "cannot come back"
    await expect(page.locator("#exit-reentry")).to_contain_text(expected)
    await page.click("#exit-confirm")
    await expect(page.locator("#screen-stopped")).to_be_visible()
    _, again = await candidate(new_context)
    await again.goto(iv["link"])
    await again.fill("#identity", PHONE)
    await again.click("#verify")
    if not second_entry:
        item = again.locator(f"#centre-list li[data-id='{iv['interview_id']}']")
        await expect(item).to_contain_text("A second entry is not allowed for this interview.")
        await expect(item.locator("button[data-action='open']")).to_have_count(0)
        return
    await expect(again.locator("#screen-device")).to_be_visible()
    await again.click("#device-continue")
    await expect(again.locator("#interview-start")).to_have_text("Continue the interview")
    await again.click("#interview-start")
    await expect(again.locator("#question-number")).to_have_text("Question 2 of 3")
    await expect(again.locator("#progress")).to_contain_text("0 of 3")
    no_js_errors(again)


async def exit_dialog_with_the_socket_down(
    hub: Hub, org: Org, new_context: Any
) -> tuple[dict[str, Any], Page]:
    """An answer saved, then the socket cut and kept down, and the exit dialog open: its
    preview came over HTTP."""
    iv = await create(hub, org, questions=2)
    _, page = await candidate(new_context)
    await enter(page, iv["link"])
    await page.type("#answer", "answer before the socket died", delay=5)
    await saved(page)
    await page.evaluate("window.__interviewHub.session.block()")
    await expect(page.locator("#conn")).to_be_visible()
    await page.click("#exit-open")
    await expect(page.locator("#exit-http")).to_be_visible()
    return iv, page


async def test_exit_works_over_http_when_the_socket_is_down(
    hub: Hub, org: Org, new_context
) -> None:
    """With the websocket down the exit still goes through (HTTP fallback) and the dialog says so."""
    iv, page = await exit_dialog_with_the_socket_down(hub, org, new_context)
    await expect(page.locator("#exit-progress")).to_contain_text("0%")
    await page.click("#exit-confirm")
    await expect(page.locator("#stopped-title")).to_have_text("You have left the interview")
    texts, _, state = await stored(hub, iv["interview_id"])
    assert state == "exited" and texts[0] == "answer before the socket died"
    # a 409 no_exit_requested when the hub noticed the closed socket after the preview (the
    # page then confirms again: the next test pins that race)
    no_js_errors(page, allowed=("status of 409",))


async def test_an_http_exit_confirm_stands_when_the_hub_cleared_the_request_in_between(
    hub: Hub, org: Org, new_context
) -> None:
    """A disconnect the hub records after the HTTP preview clears the request (SPEC §8.1); the confirm still exits, as a fresh preview says the same."""
    iv, page = await exit_dialog_with_the_socket_down(hub, org, new_context)
    # A socket resumes and drops, as the page's own late-noticed socket would: the hub
    # clears the pending request and records a disconnect.
    late = CandidateClient(hub.ws, iv["token"], PHONE, device="Chrome")
    await late.join()
    await late.close()
    store = keyed_store(hub.redis_url)
    try:
        while (meta := await store.meta(iv["interview_id"])).get("session"):
            await asyncio.sleep(0.05)
    finally:
        await store.close()
    assert meta["exit_requested"] == "0" and meta["state"] == "in_progress"
    await page.click("#exit-confirm")
    await expect(page.locator("#stopped-title")).to_have_text("You have left the interview")
    texts, _, state = await stored(hub, iv["interview_id"])
    assert state == "exited" and texts[0] == "answer before the socket died"
    no_js_errors(page, allowed=("status of 409",))  # the first confirm's no_exit_requested


async def test_practice_sends_nothing_to_the_server(hub: Hub, org: Org, new_context) -> None:
    """The practice interview runs the same screens and exit flow in the page: no socket, no candidate request, Redis untouched."""
    iv = await create(hub, org, questions=2)
    _, page = await candidate(new_context)
    await page.goto(iv["link"])
    await page.fill("#identity", PHONE)
    await page.click("#verify")
    await agree(page)
    await page.click("#device-continue")
    sockets: list[str] = []
    posts: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("request", lambda r: posts.append(r.url) if r.method != "GET" else None)
    await page.click("#practice-start")
    await expect(page.locator("#practice-banner")).to_be_visible()
    await expect(page.locator("#question-number")).to_have_text("Question 1 of 3")
    await page.type("#answer", "practice answer", delay=5)
    await saved(page)
    await page.click("#finish")
    await expect(page.locator("#question-number")).to_have_text("Question 2 of 3")
    await screenshot(page, "candidate-practice-desktop")
    await page.click("#exit-open")
    await expect(page.locator("#exit-progress")).to_contain_text("33%")
    await page.click("#exit-confirm")
    await expect(page.locator("#stopped-title")).to_contain_text("Practice finished")
    await page.click("#stopped-centre")
    await expect(page.locator("#screen-ready")).to_be_visible()
    assert sockets == [] and posts == []
    texts, _, state = await stored(hub, iv["interview_id"])
    assert state == "invited" and texts == {}
    no_js_errors(page)


async def test_refusals_are_shown_in_both_languages(hub: Hub, org: Org, new_context) -> None:
    """A wrong identity and a bad link get the hub's message, in English or Chinese from the browser's language."""
    iv = await create(hub, org, questions=1)
    _, page = await candidate(new_context, locale="zh-CN")
    await page.goto(iv["link"])
    await expect(page.locator("#identity-title")).to_have_text("身份验证")
    await page.fill("#identity", "13900000000")
    await page.click("#verify")
    await expect(page.locator("#identity-error")).to_have_text("身份证号或手机号与本次面试不符。")
    await screenshot(page, "candidate-identity-refused-zh")
    await page.select_option("#lang", "en")
    await expect(page.locator("#identity-title")).to_have_text("Verify your identity")
    await page.goto(iv["link"][:-3] + "xyz")
    await page.fill("#identity", PHONE)
    await page.click("#verify")
    await expect(page.locator("#identity-error")).to_have_text(
        "This interview link is not valid. Please check the link or contact HR."
    )
    no_js_errors(page, allowed=("status of 403", "status of 404"))


async def test_keyboard_and_screen_reader_labels(hub: Hub, org: Org, new_context) -> None:
    """The exit × is labelled and reachable by keyboard (Escape opens the confirm, Escape again stays)."""
    iv = await create(hub, org, questions=1)
    _, page = await candidate(new_context)
    await enter(page, iv["link"])
    exit_button = page.locator("#exit-open")
    await expect(exit_button).to_have_attribute("aria-label", "Exit the interview")
    await expect(page.locator("#answer")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(page.locator("#exit-dialog")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.locator("#exit-dialog")).to_be_hidden()
    await exit_button.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#exit-dialog")).to_be_visible()
    await page.keyboard.press("Enter")  # the focused default is "continue the interview"
    await expect(page.locator("#exit-dialog")).to_be_hidden()
    await asyncio.sleep(0.2)
    _, _, state = await stored(hub, iv["interview_id"])
    assert state == "in_progress"
    no_js_errors(page)


async def no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_SCREEN["width"], f"page is {width}px wide on a phone"


async def test_phone_screens_fit_and_keep_the_confirm_out_of_thumb_reach(
    hub: Hub, org: Org, new_context
) -> None:
    """On a phone every screen fits the width, and the exit confirm sits below "continue", away from the ×."""
    iv = await create(hub, org, questions=2, second_entry=True)
    _, page = await candidate(new_context, viewport=PHONE_SCREEN, is_mobile=True, has_touch=True)
    await page.goto(iv["link"])
    await no_sideways_scroll(page)
    await screenshot(page, "candidate-identity-phone")
    await page.fill("#identity", PHONE)
    await page.click("#verify")
    await expect(page.locator("#screen-consent")).to_be_visible()
    await no_sideways_scroll(page)
    await screenshot(page, "candidate-consent-phone")
    await agree(page)
    await expect(page.locator("#check-camera")).to_have_attribute("data-status", "ok")
    await expect(page.locator("#check-connection")).to_have_attribute("data-status", "ok")
    await no_sideways_scroll(page)
    await screenshot(page, "candidate-device-check-phone")
    await page.click("#device-continue")
    await expect(page.locator("#ready-summary")).to_contain_text("2 questions")
    await screenshot(page, "candidate-ready-phone")
    await page.click("#interview-start")
    await expect(page.locator("#screen-question")).to_be_visible()
    await page.type("#answer", "on the phone", delay=5)
    await saved(page)
    await page.click("#exit-open")
    await expect(page.locator("#exit-progress")).to_contain_text("0%")
    confirm = await page.locator("#exit-confirm").bounding_box()
    stay = await page.locator("#exit-cancel").bounding_box()
    close = await page.locator("#exit-open").bounding_box()
    assert confirm and stay and close
    assert confirm["y"] > stay["y"] + stay["height"]  # below "continue the interview"
    assert confirm["y"] > close["y"] + 100  # far from where the × was tapped
    await no_sideways_scroll(page)
    await screenshot(page, "candidate-exit-confirm-phone")
    await page.click("#exit-confirm")
    await page.click("#stopped-centre")
    await expect(page.locator(f"#centre-list li[data-id='{iv['interview_id']}']")).to_be_visible()
    await no_sideways_scroll(page)
    await screenshot(page, "candidate-centre-phone")
    no_js_errors(page)


async def test_desktop_confirm_is_on_the_far_side_from_the_x(
    hub: Hub, org: Org, new_context
) -> None:
    """On a desktop "Leave now" is at the dialog's far left, "continue" at the right under the ×'s column."""
    iv = await create(hub, org, questions=1)
    _, page = await candidate(new_context)
    await enter(page, iv["link"])
    await page.click("#exit-open")
    await expect(page.locator("#exit-progress")).to_be_visible()
    confirm = await page.locator("#exit-confirm").bounding_box()
    stay = await page.locator("#exit-cancel").bounding_box()
    assert confirm and stay and confirm["x"] + confirm["width"] < stay["x"]
    no_js_errors(page)


async def test_time_limit_counts_down_and_moves_on(hub: Hub, org: Org, new_context) -> None:
    """A timed question shows the time left; when it runs out the hub closes it with what arrived and the next one opens."""
    body = interview_body(2)
    body["questions"] = [{"text": "Quick one", "time_limit_s": 3}, {"text": "Untimed"}]
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post("/api/hr/interviews", json=body, headers=org.auth("admin"))
    iv = r.json()
    _, page = await candidate(new_context)
    await enter(page, iv["link"])
    await expect(page.locator("#time-left")).to_contain_text("Time left: 0:0")
    await page.type("#answer", "in time", delay=5)
    await saved(page)
    await expect(page.locator("#question-text")).to_have_text("Untimed")
    await expect(page.locator("#time-left")).to_have_text("No time limit")
    await expect(page.locator("#progress")).to_have_attribute("data-percent", "50")
    texts, _, _ = await stored(hub, iv["interview_id"])
    assert texts[0] == "in time"
    no_js_errors(page)


async def test_question_is_read_aloud_in_the_page_language(hub: Hub, org: Org, new_context) -> None:
    """ "Read aloud" hands the question text to the browser's speech synthesis, in the chosen language."""
    iv = await create(hub, org, questions=1)
    context, page = await candidate(new_context, locale="zh-CN")
    await context.add_init_script(
        "window.__spoken = [];"
        "speechSynthesis.speak = (u) => window.__spoken.push([u.text, u.lang]);"
    )
    page = await new_page(context)
    await enter(page, iv["link"])
    await page.click("#speak")
    assert await page.evaluate("window.__spoken") == [["Q1", "zh-CN"]]
    await expect(page.locator("#speak")).to_have_text("朗读题目")
    no_js_errors(page)


async def test_closed_tab_keeps_unsent_text_on_the_device(hub: Hub, org: Org, new_context) -> None:
    """Text typed offline survives closing the tab: reopening the link on that device (identity again) sends it, once."""
    iv = await create(hub, org, questions=1)
    context, page = await candidate(new_context)
    await enter(page, iv["link"])
    await page.type("#answer", "acked. ", delay=5)
    await saved(page)
    await page.evaluate("window.__interviewHub.session.block()")
    await page.type("#answer", "never sent before the tab closed", delay=5)
    await expect(page.locator("#save-state")).to_have_attribute("data-state", "offline")
    await page.close()
    again = await new_page(context)
    await again.goto(iv["link"])
    await again.fill("#identity", PHONE)  # a new tab asks again: the identity is per tab
    await again.click("#verify")
    await expect(again.locator("#answer")).to_have_value("acked. never sent before the tab closed")
    await saved(again)
    texts, seqs, _ = await stored(hub, iv["interview_id"])
    assert texts[0] == "acked. never sent before the tab closed" and once_each(seqs[0])
    no_js_errors(again)


async def test_ended_and_expired_links_say_why(hub: Hub, org: Org, new_context) -> None:
    """Opening the link of an ended or expired interview shows the hub's reason, not a way in."""
    ended = await create(hub, org, questions=1)
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post(
            f"/api/hr/interviews/{ended['interview_id']}/end",
            json={"confirm": True},
            headers=org.auth("admin"),
        )
        assert r.status_code == 200, r.text
    expired = await create(hub, org, questions=1, link_ttl_s=1)
    await asyncio.sleep(1.5)  # the link's lifetime, set to one second for this test
    for iv, reason in (
        (ended, "HR has ended this interview."),
        (expired, "This interview link has expired."),
    ):
        _, page = await candidate(new_context)
        await page.goto(iv["link"])
        await page.fill("#identity", PHONE)
        await page.click("#verify")
        await expect(page.locator("#centre-summary")).to_contain_text(reason)
        item = page.locator(f"#centre-list li[data-id='{iv['interview_id']}']")
        await expect(item.locator("button[data-action='open']")).to_have_count(0)
        no_js_errors(page)
