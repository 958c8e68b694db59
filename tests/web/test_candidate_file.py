"""The candidate's file in the HR console (real hub, real Redis, Debian's Chromium): every
interview of one person in the organisation, opened from an interview's detail, each
attempt with its reports in words, each interview linking to its own detail."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Page, expect

from tests.conftest import Hub, Org, make_org
from tests.server.test_profile import body_for, completed, created
from tests.web.conftest import PHONE, new_page, no_js_errors, screenshot
from tests.web.test_console import REFUSALS, T, login, open_detail

LAPTOP = {"width": 1366, "height": 768}
# the scorer's advisory suggestion as the console words it (client/web/hr/strings.js)
SUGGESTION_EN = {
    "strong_match": "strong; consider advancing",
    "possible_match": "mixed; review closely",
    "weak_match": "low; check the evidence",
    "insufficient_data": "not enough data",
}


async def sideways_overflow(page: Page) -> int:
    """How many pixels the page is wider than its window (0: it scrolls down, not across)."""
    return int(await page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


async def test_the_file_lists_a_persons_interviews_and_opens_each(
    hub: Hub, new_context: Any, fresh_org: Org
) -> None:
    """From an interview's detail, "Candidate file" lists that person's two interviews (not another person's), each attempt's state, report versions, suggestion and decision in words, and opens the other interview's detail."""
    org = fresh_org
    async with httpx.AsyncClient(base_url=hub.http) as http:
        first = await completed(hub, http, org, body_for("Analyst"))  # report version 1
        decided = await http.post(
            f"/api/hr/interviews/{first}/report/decision",
            json={"decision": "advance", "comment": "Clear answers"},
            headers=org.auth("interview_lead"),
        )
        assert decided.status_code == 201, decided.text  # report version 2
        second = await completed(hub, http, org, body_for("Engineer"))
        reset = await http.post(
            f"/api/hr/interviews/{second}/reset", json={"confirm": True}, headers=org.auth("admin")
        )
        assert reset.status_code == 200, reset.text
        other = await created(http, org, body_for("Analyst", id_number="11010119800101001X"))
        r = await http.get(f"/api/hr/interviews/{first}/profile", headers=org.auth("recruiter"))
        profile = r.json()
    recommendation = profile["interviews"][0]["attempts"][0]["latest"]["recommendation"]

    page = await login(new_context, org, "recruiter", viewport=LAPTOP)
    await open_detail(page, first)
    await page.click("#file-open")
    await expect(page.locator("#file-view")).to_have_attribute(
        "data-profile-id", profile["profile_id"], timeout=T
    )
    await expect(page.locator("#file-name")).to_have_text("Li Lei (Engineer)")  # the newest
    await expect(page.locator("#file-id-number")).to_have_text(profile["id_number"])  # masked
    await expect(page.locator("#file-phone")).to_have_text(profile["phone"])
    await expect(page.locator("#file-count")).to_have_text("2")
    interviews = page.locator('[data-testid="file-interview"]')
    await expect(interviews).to_have_count(2)
    assert [await interviews.nth(i).get_attribute("data-id") for i in range(2)] == [first, second]
    await expect(page.locator(f'[data-testid="file-interview"][data-id="{other}"]')).to_have_count(
        0
    )

    done = interviews.nth(0)
    await expect(done).to_have_attribute("data-current", "true")  # the one we came from
    await expect(done.locator('[data-testid="file-interview-open"]')).to_have_text("Analyst")
    await expect(done.locator('[data-field="state"]')).to_have_text("Completed")
    await expect(done.locator('[data-field="progress"]')).to_have_attribute("data-percent", "100")
    attempt = done.locator('[data-testid="file-attempt"]')
    await expect(attempt).to_have_count(1)
    await expect(attempt.locator('[data-field="attempt"]')).to_have_text("1 (current)")
    await expect(attempt.locator('[data-field="versions"]')).to_have_text("2")
    await expect(attempt.locator('[data-field="latest"]')).to_contain_text(
        "made by a person's review"
    )
    await expect(attempt.locator('[data-field="suggestion"]')).to_have_text(
        SUGGESTION_EN[recommendation]
    )
    await expect(attempt.locator('[data-field="decision"]')).to_have_text("Advance")
    await expect(attempt.locator('[data-testid="file-report"]')).to_have_attribute(
        "href", f"/api/hr/interviews/{first}/report.html?version=2"
    )

    again = interviews.nth(1)
    await expect(again).to_have_attribute("data-current", "false")
    await expect(again.locator('[data-field="state"]')).to_have_text("Invited")
    attempts = again.locator('[data-testid="file-attempt"]')
    await expect(attempts).to_have_count(2)
    now, before = attempts.nth(0), attempts.nth(1)  # the current attempt first
    await expect(now).to_have_attribute("data-attempt", "2")
    await expect(now.locator('[data-field="versions"]')).to_have_text("0")
    await expect(now.locator('[data-field="latest"]')).to_have_text("No report yet.")
    await expect(now.locator('[data-field="decision"]')).to_have_text("—")
    await expect(before).to_have_attribute("data-current", "false")
    await expect(before.locator('[data-field="attempt"]')).to_have_text(
        "1 (earlier, before a reset)"
    )
    await expect(before.locator('[data-field="attempt-state"]')).to_have_text("Completed")
    await expect(before.locator('[data-field="versions"]')).to_have_text("1")
    await expect(before.locator('[data-field="latest"]')).to_contain_text(
        "made when it was completed"
    )
    await expect(before.locator('[data-field="decision"]')).to_have_text("Not decided")
    await expect(before.locator('[data-testid="file-report"]')).to_have_count(0)
    assert await sideways_overflow(page) <= 0
    await screenshot(page, "console-candidate-file")

    await again.locator('[data-testid="file-interview-open"]').click()
    await expect(page.locator("#detail")).to_have_attribute("data-id", second, timeout=T)
    await expect(page.locator("#detail")).to_be_visible()
    await page.click("#file-open")  # the same file, now from the other interview
    await expect(
        page.locator(f'[data-testid="file-interview"][data-id="{second}"]')
    ).to_have_attribute("data-current", "true", timeout=T)
    await page.click("#file-back")
    await expect(page.locator("#detail")).to_have_attribute("data-id", second, timeout=T)
    no_js_errors(page, REFUSALS)


async def test_the_file_on_a_phone_in_chinese_and_one_that_is_not_there(
    hub: Hub, new_context: Any, fresh_org: Org, redis_server: Any
) -> None:
    """On a phone in Chinese the file reads in words and fits the width; another organisation's file, or none, says it cannot be found."""
    org = fresh_org
    rival = await make_org(hub, redis_server.url)
    async with httpx.AsyncClient(base_url=hub.http) as http:
        iv = await completed(hub, http, org, body_for("Analyst"))
        theirs = (await created(http, rival, body_for("Analyst")))["interview_id"]
        r = await http.get(f"/api/hr/interviews/{theirs}/profile", headers=rival.auth("admin"))
        their_file = r.json()["profile_id"]

    page = await login(new_context, org, "recruiter", locale="zh-CN", viewport=PHONE)
    await page.goto(f"/hr#file/{iv}")
    done = page.locator(f'[data-testid="file-interview"][data-id="{iv}"]')
    await expect(done.locator('[data-field="state"]')).to_have_text("已完成", timeout=T)
    attempt = done.locator('[data-testid="file-attempt"]')
    await expect(attempt.locator('[data-field="attempt"]')).to_have_text("第 1 次（当前）")
    await expect(attempt.locator('[data-field="decision"]')).to_have_text("未决定")
    await expect(attempt.locator('[data-field="latest"]')).to_contain_text("面试完成时生成")
    await expect(page.locator("#file-back")).to_have_text("← 返回该面试")
    assert await sideways_overflow(page) <= 0
    await screenshot(page, "console-candidate-file-phone")

    for missing in (f"#profile/{their_file}", "#profile/0123456789abcdef0123456789abcdef"):
        await page.goto(f"/hr{missing}")
        error = page.locator("#file-error")
        await expect(error).to_have_attribute("data-reason", "not_found", timeout=T)
        await expect(error).to_contain_text("找不到对应的候选人档案")
        await expect(page.locator("#file-body")).to_be_hidden()
    # an erased interview has left its file: the detail offers none
    async with httpx.AsyncClient(base_url=hub.http) as http:
        erased = await http.post(
            f"/api/hr/interviews/{iv}/erase", json={"confirm": True}, headers=org.auth("admin")
        )
        assert erased.status_code == 200, erased.text
    fresh = await new_page(page.context)
    await fresh.goto(f"/hr#iv/{iv}")
    await expect(fresh.locator("#detail-erased-box")).to_be_visible(timeout=T)
    await expect(fresh.locator("#file-open")).to_be_hidden()
    no_js_errors(page, REFUSALS)
    no_js_errors(fresh, REFUSALS)
