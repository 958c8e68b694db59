"""The candidate app when things go wrong at awkward moments: time limits, resets, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import expect

from loadtests.faults import FaultProxy
from tests.conftest import PHONE, Hub, Org, free_port, interview_body, start_hub
from tests.web.conftest import new_page, no_js_errors
from tests.web.test_candidate import candidate, create, enter, once_each, saved, stored

BLOCK = "window.__interviewHub.session.block()"
UNBLOCK = "window.__interviewHub.session.unblock()"


async def hr(hub: Hub, org: Org, method: str, path: str, **kw: Any) -> Any:
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.request(method, path, headers=org.auth("admin"), **kw)
    assert r.status_code < 300, r.text
    return r.json()


async def test_next_during_an_outage_past_the_deadline_does_not_skip_a_question(
    hub: Hub, org: Org, new_context
) -> None:
    """ "Next" pressed offline, then the time runs out: on reconnect the timed question closes and the next one stays open, not answered empty."""
    body = interview_body(3)
    body["questions"] = [
        # long enough to type and save on a loaded machine; the test then waits it out
        {"text": "Timed", "time_limit_s": 20},
        {"text": "Second"},
        {"text": "Third"},
    ]
    iv = await hr(hub, org, "POST", "/api/hr/interviews", json=body)
    _, page = await candidate(new_context)
    await enter(page, iv["link"])
    await page.type("#answer", "in time", delay=5)
    await saved(page)
    await page.type("#answer", " more", delay=0)
    # "Next" clicked just as the network drops: finish waits for acks that cannot come
    await page.evaluate("const s = window.__interviewHub.session; s.finish(); s.block();")
    # the question's time runs out meanwhile: the page counts from when the question arrived,
    # after the hub started it, so its 0:00 comes at or after the hub's deadline
    await expect(page.locator("#time-left")).to_contain_text("0:00")
    await page.evaluate(UNBLOCK)
    await expect(page.locator("#question-text")).to_have_text("Second")
    await expect(page.locator("#answer")).to_be_enabled()
    await asyncio.sleep(0.5)  # a wrongly sent finish for question 2 would land by now
    detail = await hr(hub, org, "GET", f"/api/hr/interviews/{iv['interview_id']}")
    statuses = [a["status"] for a in detail["answers"]]
    assert statuses[0] == "timed_out" and statuses[1] == "open", statuses
    no_js_errors(page)


async def test_after_an_hr_reset_the_old_draft_does_not_come_back(
    hub: Hub, org: Org, new_context
) -> None:
    """Text left unsent on a device when HR ended and reset the interview is not shown as the new attempt's answer; the new answer is stored."""
    iv = await create(hub, org, questions=1)
    iv_id = iv["interview_id"]
    context, page = await candidate(new_context)
    await enter(page, iv["link"])
    await page.type("#answer", "old attempt. ", delay=5)
    await saved(page)
    await page.evaluate(BLOCK)
    await page.type("#answer", "unsent old text", delay=5)
    await expect(page.locator("#save-state")).to_have_attribute("data-state", "offline")
    await hr(hub, org, "POST", f"/api/hr/interviews/{iv_id}/end", json={"confirm": True})
    await page.close()  # the device never heard of the end: its outbox still holds the text
    reset = await hr(hub, org, "POST", f"/api/hr/interviews/{iv_id}/reset", json={"confirm": True})
    again = await new_page(context)
    await again.goto(reset["link"])
    await again.fill("#identity", PHONE)
    await again.click("#verify")
    await again.click("#device-continue")
    await again.click("#interview-start")
    await expect(again.locator("#question-number")).to_have_text("Question 1 of 1")
    await expect(again.locator("#answer")).to_have_value("")
    await again.type("#answer", "new attempt", delay=5)
    await saved(again)
    texts, seqs, _ = await stored(hub, iv_id)
    assert texts[0] == "new attempt" and once_each(seqs[0])
    no_js_errors(again)


async def test_typing_through_a_reconnect_loses_no_keystroke(
    hub: Hub, org: Org, new_context
) -> None:
    """Keys typed while the socket comes back are neither dropped nor doubled: Redis ends with exactly the box."""
    iv = await create(hub, org, questions=1)
    _, page = await candidate(new_context)
    await enter(page, iv["link"])
    await page.type("#answer", "abc", delay=5)
    await saved(page)
    await page.evaluate(BLOCK)
    await page.type("#answer", "def", delay=5)
    await page.evaluate(UNBLOCK)
    await page.type("#answer", "ghijklmnopqrstuvwxyz0123456789", delay=15)
    await saved(page)
    box = await page.locator("#answer").input_value()
    assert box == "abcdefghijklmnopqrstuvwxyz0123456789"
    texts, seqs, _ = await stored(hub, iv["interview_id"])
    assert texts[0] == box and once_each(seqs[0])
    no_js_errors(page)


async def test_device_coming_back_adopts_what_the_newer_device_wrote(
    hub: Hub, org: Org, new_context
) -> None:
    """A laptop offline while the phone takes over and writes: when the laptop's network returns it shows the stored answer, not its stale draft (after asking, when it asks)."""
    iv = await create(hub, org, questions=1)
    _, laptop = await candidate(new_context)
    await enter(laptop, iv["link"])
    await laptop.type("#answer", "common. ", delay=5)
    await saved(laptop)
    await laptop.evaluate(BLOCK)
    await laptop.type("#answer", "laptop only", delay=200)  # one chunk a key: many, unsent
    _, phone = await candidate(new_context)
    await phone.goto(iv["link"])
    await phone.fill("#identity", PHONE)
    await phone.click("#verify")
    await expect(phone.locator("#answer")).to_have_value("common. ")
    await phone.locator("#answer").press("End")
    await phone.type("#answer", "from the phone, a longer text", delay=5)
    await saved(phone)
    await laptop.evaluate(UNBLOCK)
    # Another device (its own device id) holds it now: the laptop asks first when the centre
    # tells it in time, else its rejoin takes the interview back (a dead path is not waited
    # on, docs/web.md); test_a_device_back_from_a_drop_asks… pins the asking itself.
    stored_text = "common. from the phone, a longer text"
    answer = laptop.locator("#answer")
    for _ in range(1200):  # a bound for a hung test only
        if await laptop.locator("#takeover-title").is_visible():
            await laptop.click("#takeover-continue")
            break
        if await answer.input_value() == stored_text:
            break
        await asyncio.sleep(0.1)
    await expect(answer).to_have_value(stored_text)
    await saved(laptop)
    texts, seqs, _ = await stored(hub, iv["interview_id"])
    assert texts[0] == "common. from the phone, a longer text" and once_each(seqs[0])
    no_js_errors(laptop)


async def test_after_the_resume_grace_continue_resumes_the_same_question(
    hub: Hub, org: Org, new_context
) -> None:
    """Away longer than the resume grace, the page does not rejoin by itself; the centre says nothing was lost and "continue" resumes the same question with its text, spending no re-entry."""
    iv = await create(hub, org, questions=2, second_entry=True, resume_grace_s=1)
    _, page = await candidate(new_context)
    await enter(page, iv["link"])
    await page.type("#answer", "before the long outage", delay=5)
    await saved(page)
    await page.evaluate(BLOCK)
    # longer than the one-second grace, by the page's own account of when it lost the hub
    past_grace = "(s => s.lostAt > 0 && Date.now() - s.lostAt > s.graceMs + 1000)(window.__interviewHub.session)"
    for _ in range(300):  # a bound for a hung test only (the page's CSP forbids wait_for_function)
        if await page.evaluate(past_grace):
            break
        await asyncio.sleep(0.1)
    await page.evaluate(UNBLOCK)
    item = page.locator(f"#centre-list li[data-id='{iv['interview_id']}']")
    await expect(item).to_have_attribute("data-state", "in_progress")
    await expect(item).to_contain_text("In progress. You can continue until")
    await expect(page.locator("#centre-summary")).to_contain_text("nothing counts as an exit")
    detail = await hr(hub, org, "GET", f"/api/hr/interviews/{iv['interview_id']}")
    assert detail["state"] == "in_progress" and detail["connected"] is False
    await item.locator("button[data-action='open']").click()  # the candidate's choice
    await expect(page.locator("#screen-question")).to_be_visible()
    await expect(page.locator("#question-number")).to_have_text("Question 1 of 2")
    await expect(page.locator("#answer")).to_have_value("before the long outage")
    await page.locator("#answer").press("End")
    await page.type("#answer", " and after it", delay=5)
    await saved(page)
    texts, _, state = await stored(hub, iv["interview_id"])
    assert texts[0] == "before the long outage and after it" and state == "in_progress"
    detail = await hr(hub, org, "GET", f"/api/hr/interviews/{iv['interview_id']}")
    assert detail["second_entry"] is True and detail["interruptions"]["exits"] == 0
    no_js_errors(page)


async def test_exit_confirm_after_the_socket_came_back(hub: Hub, org: Org, new_context) -> None:
    """An exit previewed while offline, confirmed after the socket returned (which cleared the request), still exits."""
    iv = await create(hub, org, questions=2)
    _, page = await candidate(new_context)
    await enter(page, iv["link"])
    await page.type("#answer", "x", delay=5)
    await saved(page)
    await page.evaluate(BLOCK)
    await page.click("#exit-open")
    await expect(page.locator("#exit-http")).to_be_visible()
    await page.evaluate(UNBLOCK)
    await expect(page.locator("#conn")).to_be_hidden()
    await page.click("#exit-confirm")
    stopped = page.locator("#stopped-title")
    if not await stopped.is_visible():
        # the request was cleared by the rejoin: a fresh preview is shown; confirm it
        await expect(page.locator("#exit-confirm")).to_be_enabled()
        await page.click("#exit-confirm")
    await expect(stopped).to_have_text("You have left the interview")
    _, _, state = await stored(hub, iv["interview_id"])
    assert state == "exited"
    no_js_errors(page, allowed=("409",))  # the HTTP confirm of the cleared request


async def test_idle_close_pauses_until_the_candidate_acts(
    hub: Hub, org: Org, new_context, tmp_path
) -> None:
    """After an idle close (4010) the page says it paused and does not reconnect by itself; typing brings it back and nothing is lost."""
    # 5 s: the typing and saving below, on a loaded machine, must not themselves look idle
    idle_hub = start_hub(hub.redis_url, tmp_path, HUB_IDLE_TIMEOUT_S="5")
    try:
        async with httpx.AsyncClient(base_url=idle_hub.http) as http:
            r = await http.post(
                "/api/hr/interviews", json=interview_body(1), headers=org.auth("admin")
            )
        iv = r.json()
        _, page = await candidate(new_context, base_url=idle_hub.http)
        await enter(page, iv["link"])
        await page.type("#answer", "before the pause. ", delay=5)
        await saved(page)
        await expect(page.locator("#conn")).to_have_attribute("data-state", "paused")
        await expect(page.locator("#conn")).to_contain_text("without activity")
        await asyncio.sleep(1.5)  # still paused: no reconnect without the candidate
        await expect(page.locator("#conn")).to_have_attribute("data-state", "paused")
        await page.type("#answer", "after it", delay=5)
        await expect(page.locator("#conn")).to_be_hidden()
        await saved(page)
        texts, seqs, _ = await stored(idle_hub, iv["interview_id"])
        assert texts[0] == "before the pause. after it" and once_each(seqs[0])
        no_js_errors(page)
    finally:
        idle_hub.stop()


async def test_a_full_answer_locks_the_box_and_next_still_works(
    hub: Hub, org: Org, new_context, tmp_path
) -> None:
    """At the answer's byte cap the box locks with the hub's message; "next" saves what fit and moves on."""
    small = start_hub(hub.redis_url, tmp_path, HUB_MAX_ANSWER_BYTES="30")
    try:
        async with httpx.AsyncClient(base_url=small.http) as http:
            r = await http.post(
                "/api/hr/interviews", json=interview_body(2), headers=org.auth("admin")
            )
        iv = r.json()
        _, page = await candidate(new_context, base_url=small.http)
        await enter(page, iv["link"])
        await page.type("#answer", "twenty characters ok", delay=5)
        await saved(page)
        await page.type("#answer", " and this is too much", delay=5)
        await expect(page.locator("#question-error")).to_contain_text("maximum length")
        await expect(page.locator("#answer")).to_be_disabled()
        await page.click("#finish")
        await expect(page.locator("#question-number")).to_have_text("Question 2 of 2")
        await expect(page.locator("#answer")).to_be_enabled()
        texts, seqs, _ = await stored(small, iv["interview_id"])
        assert texts[0].startswith("twenty characters ok") and len(texts[0].encode()) <= 30
        assert once_each(seqs[0])
        no_js_errors(page)
    finally:
        small.stop()


@contextlib.contextmanager
def hub_behind_a_fault_proxy(hub: Hub, tmp_path: Path) -> Iterator[tuple[FaultProxy, Hub, str]]:
    """A hub of its own (on the shared Redis) reached only through a FaultProxy, whose path
    a test can make silent: (the proxy, the hub, the pages' origin, which is the proxy's)."""
    port = free_port()
    with FaultProxy(port) as path:
        origin = f"http://127.0.0.1:{path.port}"
        own = start_hub(hub.redis_url, tmp_path, port=port, HUB_ALLOWED_ORIGINS=origin)
        try:
            yield path, own, origin
        finally:
            own.stop()


async def test_a_dead_network_path_is_noticed_shown_and_survived(
    hub: Hub, org: Org, new_context, tmp_path
) -> None:
    """A network path that goes silent (no FIN, no RST): the page's heartbeat notices and shows 'offline' while keeping the typing, HR sees the candidate disconnected (the hub's keep-alive), and when the path returns everything typed is stored once."""
    with hub_behind_a_fault_proxy(hub, tmp_path) as (path, _, origin):
        iv = await create(hub, org, questions=1)
        iv_id = iv["interview_id"]
        link = iv["link"].replace(hub.http, origin)
        _, page = await candidate(new_context, base_url=origin)
        await enter(page, link)
        await page.type("#answer", "before the tunnel. ", delay=5)
        await saved(page)
        path.blackhole(True)
        await page.type("#answer", "typed in the tunnel", delay=5)
        await expect(page.locator("#save-state")).to_have_attribute(
            "data-state", "offline", timeout=60_000
        )
        detail = {}
        for _ in range(600):  # the hub's keep-alive drops the silent socket
            detail = await hr(hub, org, "GET", f"/api/hr/interviews/{iv_id}")
            if not detail["connected"]:
                break
            await asyncio.sleep(0.1)
        assert not detail["connected"]
        path.blackhole(False)
        await saved(page)
        texts, seqs, _ = await stored(hub, iv_id)
        assert texts[0] == "before the tunnel. typed in the tunnel" and once_each(seqs[0])
        no_js_errors(page, allowed=("WebSocket",))
