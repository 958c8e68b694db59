"""The HR live console in a real browser: real hub, real Redis, Debian's Chromium.

The candidate is played by the Python CandidateClient over a real websocket; what the page
shows is checked with Playwright's auto-waiting ``expect``, what it did with the HR API.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from client.candidate import CandidateClient, Ended, JoinRefused
from protocol.reasons import messages
from server.store import Store, log_scope
from tests.conftest import PHONE, Hub, Org, interview_body, now_ms, start_hub
from tests.server.test_audit import hub_book, wait_anchored
from tests.web.conftest import PHONE as PHONE_SIZE
from tests.web.conftest import new_page, no_js_errors, screenshot

T = 10_000  # ms: the longest any expectation waits
REFUSALS = ("401", "403", "404", "409")  # expected refused requests in the console


async def api(hub: Hub, org: Org, role: str, method: str, path: str, **kw: Any) -> Any:
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.request(method, path, headers=org.auth(role), **kw)
        assert r.status_code < 300, r.text
        return r.json()


async def create(hub: Hub, org: Org, questions: int = 2, **policy: Any) -> dict[str, Any]:
    return await api(
        hub, org, "admin", "POST", "/api/hr/interviews", json=interview_body(questions, **policy)
    )


async def interview(hub: Hub, org: Org, iv: str) -> dict[str, Any]:
    return await api(hub, org, "admin", "GET", f"/api/hr/interviews/{iv}")


async def login(new_context: Any, org: Org, role: str, locale: str = "en-US", **kw: Any) -> Page:
    context = await new_context(locale=locale, **kw)
    page = await new_page(context)
    await page.goto("/hr")
    user = org.users[role]
    await page.fill("#login-user", user)
    await page.fill("#login-password", "pw-" + user)
    await page.click("#login-submit")
    await expect(page.locator("#whoami")).to_have_text(user, timeout=T)
    await expect(page.locator("#live-status")).to_have_attribute("data-status", "live", timeout=T)
    return page


async def open_detail(page: Page, iv: str) -> None:
    await page.locator(f'[data-testid="iv-row"][data-id="{iv}"] [data-testid="iv-open"]').click()
    await expect(page.locator("#detail")).to_have_attribute("data-id", iv, timeout=T)
    await expect(page.locator("#detail")).to_be_visible()


def answer_text(page: Page, q: int) -> Any:
    return page.locator(f'[data-testid="answer"][data-q="{q}"] [data-testid="answer-text"]')


async def test_login_refused_then_accepted(new_context: Any, org: Org) -> None:
    """A wrong password shows the server's login_failed message; the right one opens the console."""
    context = await new_context(locale="en-US")
    page = await new_page(context)
    await page.goto("/hr")
    await expect(page.locator("#login-user")).to_be_visible(timeout=T)
    await expect(page.locator("#whoami")).to_be_hidden()
    user = org.users["admin"]
    await page.fill("#login-user", user)
    await page.fill("#login-password", "wrong")
    await page.click("#login-submit")
    await expect(page.locator("#login-error")).to_have_text(
        messages("login_failed")["en"], timeout=T
    )
    await expect(page.locator("#console-view")).to_be_hidden()
    await page.fill("#login-password", "pw-" + user)
    await page.press("#login-password", "Enter")
    await expect(page.locator("#whoami")).to_have_text(user, timeout=T)
    await expect(page.locator("#login-view")).to_be_hidden()
    # the session is a cookie: a reload stays logged in; logging out returns to the login
    await page.reload()
    await expect(page.locator("#whoami")).to_have_text(user, timeout=T)
    await page.click("#logout")
    await expect(page.locator("#login-view")).to_be_visible(timeout=T)
    await page.reload()
    await expect(page.locator("#login-view")).to_be_visible(timeout=T)
    no_js_errors(page, REFUSALS)


async def test_list_updates_live_when_a_candidate_joins(
    hub: Hub, new_context: Any, org: Org
) -> None:
    """A new interview is listed as invited, then turns ongoing with device and progress live, without a reload."""
    created = await create(hub, org)
    iv = created["interview_id"]
    page = await login(new_context, org, "recruiter")
    row = page.locator(f'[data-testid="iv-row"][data-id="{iv}"]')
    state = row.locator('[data-field="state"]')
    progress = row.locator('[data-field="progress"]')
    await expect(state).to_have_attribute("data-state", "invited", timeout=T)
    await expect(state).to_have_text("Invited")
    await expect(progress).to_have_text("0/2")
    await page.evaluate("window.__notReloaded = true")
    async with CandidateClient(hub.ws, created["token"], PHONE, device="phone-safari") as c:
        await c.join()
        await expect(state).to_have_attribute("data-state", "in_progress", timeout=T)
        await expect(state).to_have_text("Ongoing")
        await expect(row.locator('[data-field="device"]')).to_have_text("phone-safari")
        await expect(row.locator('[data-field="connected"]')).to_have_attribute(
            "data-connected", "true"
        )
        await c.send_text("done")
        await c.finish()
        await expect(progress).to_have_text("1/2", timeout=T)
        await expect(progress).to_have_attribute("data-percent", "50")
    # the filter shows only the wanted state
    await page.select_option("#state-filter", "invited")
    await expect(row).to_have_count(0, timeout=T)
    await page.select_option("#state-filter", "ongoing")
    await expect(row).to_have_count(1, timeout=T)
    assert await page.evaluate("window.__notReloaded") is True
    await screenshot(page, "console-list")
    no_js_errors(page, REFUSALS)


async def test_a_dropped_candidate_shows_as_interrupted_since(
    hub: Hub, new_context: Any, org: Org
) -> None:
    """A candidate whose connection is lost shows as "connection lost since <time>" in the list and the detail (en and zh-CN), still ongoing past the resume grace, and connected again after a resume."""
    created = await create(hub, org, resume_grace_s=1)
    iv = created["interview_id"]
    page = await login(new_context, org, "recruiter")
    row = page.locator(f'[data-testid="iv-row"][data-id="{iv}"]')
    conn = row.locator('[data-field="connected"]')
    c = CandidateClient(hub.ws, created["token"], PHONE, device="phone-safari")
    await c.join()
    await c.send_text("before the battery died")
    await c.wait_acked()
    await expect(conn).to_have_attribute("data-connection", "on", timeout=T)
    await c.drop()
    await expect(conn).to_have_attribute("data-connection", "interrupted", timeout=T)
    since = (await interview(hub, org, iv))["disconnected_ms"]
    assert since > 0
    await expect(conn).to_have_attribute("data-interrupted-since", str(since))
    # past the resume grace (one second) by the hub's clock: still ongoing, still interrupted
    while now_ms() <= since + 2000:
        await asyncio.sleep(0.1)
    await page.click("#list-refresh")
    await expect(row.locator('[data-field="state"]')).to_have_attribute(
        "data-state", "in_progress", timeout=T
    )
    shown = "ms => new Date(ms).toLocaleString(document.documentElement.lang, {dateStyle: 'medium', timeStyle: 'short'})"
    at = await page.evaluate(shown, since)
    await expect(conn).to_have_text(f"connection lost since {at}")
    await open_detail(page, iv)
    detail_conn = page.locator("#detail-connected")
    await expect(detail_conn).to_have_attribute("data-connection", "interrupted", timeout=T)
    await expect(detail_conn).to_have_text(f"connection lost since {at}")
    await expect(page.locator('#events li[data-kind="disconnected"]')).to_contain_text(
        "can resume until", timeout=T
    )
    await screenshot(page, "console-detail-interrupted")

    zh = await login(new_context, org, "recruiter", locale="zh-CN")
    zh_conn = zh.locator(f'[data-testid="iv-row"][data-id="{iv}"] [data-field="connected"]')
    await expect(zh_conn).to_have_attribute("data-connection", "interrupted", timeout=T)
    zh_at = await zh.evaluate(shown, since)
    await expect(zh_conn).to_have_text(f"自 {zh_at} 起连接中断")

    async with CandidateClient(hub.ws, created["token"], PHONE, device="phone-safari") as back:
        assert (await back.join()).mode == "resume"
        await expect(detail_conn).to_have_attribute("data-connection", "on", timeout=T)
        await expect(detail_conn).to_have_text("connected")
        await expect(zh_conn).to_have_text("在线", timeout=T)
    no_js_errors(page, REFUSALS)
    no_js_errors(zh, REFUSALS)


async def test_interview_created_by_a_colleague_appears_live(
    hub: Hub, new_context: Any, org: Org
) -> None:
    """An interview another HR user creates shows up in an open list at once (the organisation's `created` event), no reload."""
    page = await login(new_context, org, "recruiter")
    await page.evaluate("window.__notReloaded = true")
    created = await create(hub, org)
    row = page.locator(f'[data-testid="iv-row"][data-id="{created["interview_id"]}"]')
    await expect(row.locator('[data-field="state"]')).to_have_attribute(
        "data-state", "invited", timeout=T
    )
    assert await page.evaluate("window.__notReloaded") is True
    no_js_errors(page, REFUSALS)


async def test_detail_shows_text_and_events_as_they_happen(
    hub: Hub, new_context: Any, org: Org
) -> None:
    """The detail folds the chunks into the exact answer text live, and lists join, exit request and takeover as they happen."""
    created = await create(hub, org)
    iv = created["interview_id"]
    page = await login(new_context, org, "recruiter")
    await open_detail(page, iv)
    await expect(page.locator("#detail-state")).to_have_attribute("data-state", "invited")
    c = CandidateClient(hub.ws, created["token"], PHONE, device="laptop")
    try:
        await c.join()
        await expect(page.locator('#events li[data-kind="joined"]')).to_have_count(1, timeout=T)
        await expect(page.locator("#detail-state")).to_have_attribute("data-state", "in_progress")
        for part in ("Hello", " wrld", "\b\b\bor", "ld 你好 😀"):
            await c.send_text(part)
        await expect(answer_text(page, 0)).to_have_text("Hello world 你好 😀", timeout=T)
        await c.send_text("\b\b!")
        await expect(answer_text(page, 0)).to_have_text("Hello world 你好!", timeout=T)
        await c.request_exit()
        await expect(page.locator('#events li[data-kind="exit_requested"]')).to_have_count(
            1, timeout=T
        )
        # newest first
        await expect(page.locator("#events li").first).to_have_attribute(
            "data-kind", "exit_requested"
        )
        async with CandidateClient(hub.ws, created["token"], PHONE, device="tablet") as other:
            await other.join()
            taken = page.locator('#events li[data-kind="joined"][data-took-over="true"]')
            await expect(taken).to_have_count(1, timeout=T)
            await expect(taken).to_contain_text("tablet")
            await other.send_text(" more")
            await expect(answer_text(page, 0)).to_have_text("Hello world 你好! more", timeout=T)
            await other.finish()
            await expect(
                page.locator('[data-testid="answer"][data-q="0"] [data-testid="answer-status"]')
            ).to_have_attribute("data-status", "answered", timeout=T)
            await expect(page.locator("#detail-progress")).to_have_text("1/2", timeout=T)
    finally:
        await c.close()
    # a fresh page shows the same text (from the replay), once
    again = await new_page(page.context)
    await again.goto(f"/hr#iv/{iv}")
    await expect(answer_text(again, 0)).to_have_text("Hello world 你好! more", timeout=T)
    await expect(again.locator('#events li[data-kind="exit_requested"]')).to_have_count(
        1, timeout=T
    )
    await screenshot(page, "console-detail")
    no_js_errors(page, REFUSALS)
    no_js_errors(again, REFUSALS)


async def test_end_needs_a_deliberate_confirm_and_tells_the_candidate(
    hub: Hub, new_context: Any, org: Org
) -> None:
    """Cancel ends nothing; confirm ends it: the candidate's socket gets `ended` with the note and the page shows ended."""
    created = await create(hub, org)
    iv = created["interview_id"]
    page = await login(new_context, org, "interview_lead")
    async with CandidateClient(hub.ws, created["token"], PHONE) as c:
        await c.join()
        await open_detail(page, iv)
        await expect(page.locator("#detail-state")).to_have_attribute(
            "data-state", "in_progress", timeout=T
        )
        await page.click("#end-open")
        await expect(page.locator("#end-dialog")).to_be_visible()
        await expect(page.locator("#end-confirm")).not_to_be_focused()
        await page.keyboard.press("Escape")
        await expect(page.locator("#end-dialog")).to_be_hidden()
        await page.click("#end-open")
        await page.fill("#end-note", "Thanks, we have what we need.")
        await page.click("#end-cancel")
        await expect(page.locator("#end-dialog")).to_be_hidden()
        assert (await interview(hub, org, iv))["state"] == "in_progress"
        await page.click("#end-open")
        await page.fill("#end-note", "Thanks, we have what we need.")
        await page.click("#end-confirm")
        ended = await c.expect(Ended)
        assert ended.note == "Thanks, we have what we need."
        assert ended.by == org.users["interview_lead"]
    await expect(page.locator("#detail-state")).to_have_attribute("data-state", "ended", timeout=T)
    await expect(page.locator('#events li[data-kind="ended"]')).to_have_count(1, timeout=T)
    await expect(page.locator('#events li[data-kind="ended"]')).to_contain_text("Thanks, we have")
    await expect(page.locator("#action-error")).to_be_hidden()
    assert (await interview(hub, org, iv))["state"] == "ended"
    no_js_errors(page, REFUSALS)


@pytest.mark.parametrize("locale,lang", [("en-US", "en"), ("zh-CN", "zh-CN")])
async def test_recruiter_end_is_unavailable_with_who_to_ask(
    hub: Hub, new_context: Any, org: Org, locale: str, lang: str
) -> None:
    """A recruiter's end is unavailable before the dialog, saying who to ask in the page's language; the server's refusal stays (tests/web/test_console_actions.py)."""
    created = await create(hub, org)
    iv = created["interview_id"]
    page = await login(new_context, org, "recruiter", locale=locale)
    await open_detail(page, iv)
    await expect(page.locator("#end-open")).to_be_disabled(timeout=T)
    note = page.locator("#end-open-perm")
    roles = {"en": "Recruiting manager", "zh-CN": "招聘经理"}
    await expect(note).to_contain_text(roles[lang])
    await expect(page.locator("#end-open")).to_have_attribute("aria-describedby", "end-open-perm")
    assert (await interview(hub, org, iv))["state"] == "invited"
    # switching the language switches the note too
    other = "en" if lang == "zh-CN" else "zh-CN"
    await page.select_option("#lang-select", other)
    await expect(note).to_contain_text(roles[other])
    no_js_errors(page, REFUSALS)


async def test_reentry_link_reset_and_create(hub: Hub, new_context: Any, org: Org) -> None:
    """Grant and revoke a second entry, resend the link, reset, and create from the form: each takes effect."""
    created = await create(hub, org)
    iv = created["interview_id"]
    async with CandidateClient(hub.ws, created["token"], PHONE) as c:
        await c.join()
        await c.send_text("partial answer")
        await c.wait_acked()
        await c.request_exit()
        await c.confirm_exit()
    page = await login(new_context, org, "admin")
    await open_detail(page, iv)
    await expect(page.locator("#detail-state")).to_have_attribute("data-state", "exited", timeout=T)
    await expect(answer_text(page, 0)).to_have_text("partial answer", timeout=T)

    await page.fill("#reentry-window", "2")
    await page.click("#reentry-grant")
    await expect(page.locator("#action-done")).to_be_visible(timeout=T)
    after = await interview(hub, org, iv)
    assert after["second_entry"] is True and after["reentry_until_ms"] > 0
    await expect(page.locator('#events li[data-kind="reentry_granted"]')).to_have_count(
        1, timeout=T
    )
    await expect(page.locator("#detail-second-entry")).to_have_attribute(
        "data-allowed", "true", timeout=T
    )
    await page.click("#reentry-revoke")
    await expect(page.locator('#events li[data-kind="reentry_revoked"]')).to_have_count(
        1, timeout=T
    )
    assert (await interview(hub, org, iv))["second_entry"] is False

    await page.click("#link-resend")
    link = page.locator("#link-value")
    await expect(page.locator("#link-output")).to_be_visible(timeout=T)
    new_link = await link.input_value()
    assert new_link.startswith("http") and "/i/" in new_link
    with pytest.raises(JoinRefused) as refused:  # the old link stopped working
        async with CandidateClient(hub.ws, created["token"], PHONE) as old:
            await old.join()
    assert refused.value.reason == "link_invalid"

    await page.click("#reset-open")
    await expect(page.locator("#reset-dialog")).to_be_visible()
    await page.click("#reset-confirm")
    await expect(page.locator("#detail-state")).to_have_attribute(
        "data-state", "invited", timeout=T
    )
    reset = await interview(hub, org, iv)
    assert reset["state"] == "invited" and reset["attempt"] == 2
    await expect(answer_text(page, 0)).to_have_text("", timeout=T)  # the new attempt is empty
    reset_link = await link.input_value()
    token = reset_link.rsplit("/i/", 1)[1]
    async with CandidateClient(hub.ws, token, PHONE) as again:  # the reset's link works
        await again.join()
    await expect(page.locator("#detail-state")).to_have_attribute(
        "data-state", "in_progress", timeout=T
    )

    # create from the form
    await page.click("#nav-list")
    await page.click("#create-open")
    await page.fill("#create-name", "Form Candidate")
    await page.fill("#create-phone", PHONE)
    await page.fill("#create-position", "Form Position")
    await page.fill("#create-questions", "First question | 90\nSecond question\n")
    await page.check("#create-second-entry")
    await page.click("#create-submit")
    await expect(page.locator("#create-dialog")).to_be_hidden(timeout=T)
    await expect(page.locator("#action-done")).to_contain_text("/i/", timeout=T)
    new_id = await page.locator("#action-done").get_attribute("data-interview-id")
    made = await interview(hub, org, new_id)
    assert made["candidate"] == "Form Candidate" and made["position"] == "Form Position"
    assert [a["question"] for a in made["answers"]] == ["First question", "Second question"]
    assert made["second_entry"] is True
    await expect(page.locator(f'[data-testid="iv-row"][data-id="{new_id}"]')).to_have_count(
        1, timeout=T
    )
    no_js_errors(page, REFUSALS)


async def test_report_and_log(hub: Hub, new_context: Any, org: Org, store: Store) -> None:
    """Generate a report (listed, openable), read the operation log and verify it."""
    created = await create(hub, org, report_auto=False)
    iv = created["interview_id"]
    page = await login(new_context, org, "admin")
    await open_detail(page, iv)
    await expect(page.locator("#report-open")).to_have_attribute("aria-disabled", "true")
    await page.click("#report-generate")
    await expect(page.locator('#report-versions li[data-version="1"]')).to_have_count(1, timeout=T)
    await expect(page.locator("#report-open")).to_have_attribute("aria-disabled", "false")
    async with page.context.expect_page() as opened:
        await page.click("#report-open")
    report = await opened.value
    await report.wait_for_load_state()
    assert "/report.html" in report.url
    await expect(report.locator("body")).to_contain_text("HR Test", timeout=T)
    await page.click("#log-open")
    await expect(page.locator("#log-panel")).to_be_visible(timeout=T)
    await expect(page.locator('#log-table tbody tr[data-action="create"]')).to_have_count(
        1, timeout=T
    )
    await expect(page.locator('#log-table tbody tr[data-action="report"]')).to_have_count(1)
    await wait_anchored(hub_book(hub), store, log_scope(iv))  # a log is anchored within 1 s
    await page.click("#log-verify")
    await expect(page.locator("#log-verify-result")).to_have_attribute("data-ok", "true", timeout=T)
    no_js_errors(page, REFUSALS)


async def test_a_log_without_checkpoints_is_not_shown_whole(
    hub: Hub, new_context: Any, org: Org, redis_server: Any, tmp_path: Any
) -> None:
    """On a hub that does not share the anchor directory, verifying the log says it cannot
    be proven whole (no checkpoint), never that it is intact."""
    created = await create(hub, org)
    elsewhere = start_hub(redis_server.url, tmp_path, HUB_LOG_ANCHOR_DIR=str(tmp_path / "other"))
    try:
        page = await login(new_context, org, "admin", base_url=elsewhere.http)
        await open_detail(page, created["interview_id"])
        await page.click("#log-open")
        await expect(page.locator("#log-panel")).to_be_visible(timeout=T)
        await page.click("#log-verify")
        result = page.locator("#log-verify-result")
        await expect(result).to_have_attribute("data-ok", "false", timeout=T)
        await expect(result).to_have_attribute("data-problem", "unanchored")
        await expect(result).to_contain_text("cannot be proven whole")
        await expect(result).to_have_class("error")
        await result.scroll_into_view_if_needed()
        await screenshot(page, "console-log-unanchored")
        no_js_errors(page, REFUSALS)
    finally:
        elsewhere.stop()


async def test_role_page_for_admins_only(hub: Hub, new_context: Any, fresh_org: Org) -> None:
    """The role page is there for an admin, not for a recruiter; an admin's permission change takes effect."""
    recruiter = await login(new_context, fresh_org, "recruiter")
    await expect(recruiter.locator("#nav-list")).to_be_visible()
    await expect(recruiter.locator("#nav-roles")).to_be_hidden()
    await recruiter.goto("/hr#roles")
    await expect(recruiter.locator("#list-view")).to_be_visible(timeout=T)
    await expect(recruiter.locator("#roles-view")).to_be_hidden()

    admin = await login(new_context, fresh_org, "admin")
    await admin.click("#nav-roles")
    await expect(admin.locator("#roles-view")).to_be_visible(timeout=T)
    box = admin.locator('input[data-role="recruiter"][data-perm="interview.end"]')
    await expect(box).not_to_be_checked(timeout=T)
    await box.check()
    await admin.click("#role-save-recruiter")
    await expect(admin.locator("#action-done")).to_be_visible(timeout=T)
    roles = await api(hub, fresh_org, "admin", "GET", "/api/hr/roles")
    assert "interview.end" in roles["roles"]["recruiter"]
    await expect(
        admin.locator('input[data-role="recruiter"][data-perm="interview.end"]')
    ).to_be_checked()
    # the recruiter may end now
    created = await create(hub, fresh_org)
    await recruiter.goto("/hr")
    await open_detail(recruiter, created["interview_id"])
    await recruiter.click("#end-open")
    await recruiter.click("#end-confirm")
    await expect(recruiter.locator("#detail-state")).to_have_attribute(
        "data-state", "ended", timeout=T
    )
    # and a user's roles
    name = fresh_org.users["recruiter"]
    await admin.locator(f'input[data-user="{name}"][data-user-role="interview_lead"]').check()
    await admin.click(f'button[data-save-user="{name}"]')
    await expect(admin.locator("#action-done")).to_contain_text(name, timeout=T)
    users = await api(hub, fresh_org, "admin", "GET", "/api/hr/users")
    assert sorted(next(u["roles"] for u in users["users"] if u["name"] == name)) == [
        "interview_lead",
        "recruiter",
    ]
    no_js_errors(recruiter, REFUSALS)
    no_js_errors(admin, REFUSALS)


async def test_reconnect_replays_what_was_missed_exactly_once(
    hub: Hub, new_context: Any, org: Org
) -> None:
    """After its socket drops, the console reconnects and shows what happened meanwhile, each chunk and event once."""
    created = await create(hub, org)
    iv = created["interview_id"]
    page = await login(new_context, org, "admin")
    await open_detail(page, iv)
    async with CandidateClient(hub.ws, created["token"], PHONE) as c:
        await c.join()
        await c.send_text("one ")
        await expect(answer_text(page, 0)).to_have_text("one ", timeout=T)
        await page.evaluate("window.__consoleDebug.dropSocket(true)")
        await expect(page.locator("#live-status")).to_have_attribute(
            "data-status", "reconnecting", timeout=T
        )
        for part in ("two ", "three", "\b\b\b\b\bTHREE"):
            await c.send_text(part)
        await c.wait_acked()
        await c.request_exit()
        await c.cancel_exit()
        await page.evaluate("window.__consoleDebug.resumeSocket()")
        await expect(page.locator("#live-status")).to_have_attribute(
            "data-status", "live", timeout=T
        )
        await expect(page.locator('#events li[data-kind="exit_cancelled"]')).to_have_count(
            1, timeout=T
        )
        await expect(answer_text(page, 0)).to_have_text("one two THREE", timeout=T)
        # and live again afterwards
        await c.send_text(" four")
        await expect(answer_text(page, 0)).to_have_text("one two THREE four", timeout=T)
        # an automatic reconnect (no hold) as well
        await page.evaluate("window.__consoleDebug.dropSocket()")
        await c.send_text(" five")
        await expect(page.locator("#live-status")).to_have_attribute(
            "data-status", "live", timeout=T
        )
        await expect(answer_text(page, 0)).to_have_text("one two THREE four five", timeout=T)
    await expect(page.locator('#events li[data-kind="joined"]')).to_have_count(1)
    await expect(page.locator('#events li[data-kind="exit_requested"]')).to_have_count(1)
    await expect(page.locator('#events li[data-kind="exit_cancelled"]')).to_have_count(1)
    no_js_errors(page, REFUSALS)


async def test_language_switch_and_phone_width(hub: Hub, new_context: Any, org: Org) -> None:
    """zh-CN follows the browser and the switch; at 390 px the list and detail have no horizontal scroll."""
    created = await create(hub, org)
    context = await new_context(locale="zh-CN", viewport=PHONE_SIZE)
    page = await new_page(context)
    await page.goto("/hr")
    await expect(page.locator("#login-heading")).to_have_text("登录", timeout=T)
    await page.select_option("#lang-select", "en")
    await expect(page.locator("#login-heading")).to_have_text("Log in")
    user = org.users["admin"]
    await page.fill("#login-user", user)
    await page.fill("#login-password", "pw-" + user)
    await page.click("#login-submit")
    await expect(page.locator("#list-heading")).to_have_text("Interviews", timeout=T)
    await page.select_option("#lang-select", "zh-CN")
    await expect(page.locator("#list-heading")).to_have_text("面试列表")
    await expect(page.locator("#nav-roles")).to_have_text("角色管理")
    await expect(page.locator("#live-status")).to_contain_text("实时", timeout=T)
    row = page.locator(f'[data-testid="iv-row"][data-id="{created["interview_id"]}"]')
    await expect(row.locator('[data-field="state"]')).to_have_text("已邀请", timeout=T)
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    scroll = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    assert await page.evaluate(scroll)
    await screenshot(page, "console-phone-list")
    await open_detail(page, created["interview_id"])
    await expect(page.locator("#detail-state")).to_have_text("已邀请", timeout=T)
    assert await page.evaluate(scroll)
    await screenshot(page, "console-phone-detail")
    # keyboard: the end button is reachable with Tab and opens the dialog with Enter
    await page.locator("#end-open").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#end-dialog")).to_be_visible()
    await page.keyboard.press("Escape")
    no_js_errors(page, REFUSALS)


async def test_session_ended_elsewhere_returns_to_login(
    hub: Hub, new_context: Any, org: Org
) -> None:
    """When the page's session is logged out elsewhere, the monitor closes and the page shows the login with the server's message."""
    page = await login(new_context, org, "recruiter")
    cookie = next(c for c in await page.context.cookies() if c["name"] == "ih_session")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post(
            "/api/hr/logout", headers={"Authorization": f"Bearer {cookie['value']}"}
        )
        assert r.status_code == 200
    await expect(page.locator("#login-view")).to_be_visible(timeout=T)
    await expect(page.locator("#login-error")).to_have_text(messages("not_logged_in")["en"])
    await expect(page.locator("#live-status")).to_be_hidden()
    no_js_errors(page, REFUSALS)


async def test_admin_erases_an_interview_and_sets_the_retention(
    hub: Hub, new_context: Any, fresh_org: Org
) -> None:
    """An admin erases an exited interview from the console (with a confirm) and sets the retention; a recruiter sees no erase button."""
    org = fresh_org
    created = await create(hub, org)
    iv = created["interview_id"]
    async with CandidateClient(hub.ws, created["token"], PHONE) as c:
        await c.join()
        await c.send_text("to be erased")
        await c.wait_acked()
        await c.request_exit()
        await c.confirm_exit()
    recruiter = await login(new_context, org, "recruiter")
    await open_detail(recruiter, iv)
    await expect(recruiter.locator("#erase-open")).to_be_hidden()
    page = await login(new_context, org, "admin")
    await open_detail(page, iv)
    await page.click("#erase-open")
    await expect(page.locator("#erase-dialog")).to_be_visible()
    await expect(page.locator("#erase-cancel")).to_be_focused()  # the safe choice by default
    await page.click("#erase-confirm")
    await expect(page.locator("#action-done")).to_contain_text("erased", timeout=T)
    detail = await interview(hub, org, iv)
    assert detail["erased_ms"] > 0 and detail["answers"][0]["text"] == ""
    await page.click("#nav-roles")
    days = page.locator("#retention-days")
    await expect(days).to_have_value("180", timeout=T)
    await days.fill("30")
    await page.click("#retention-save")
    await expect(page.locator("#action-done")).to_contain_text("30", timeout=T)
    assert (await api(hub, org, "admin", "GET", "/api/hr/retention"))["retention_days"] == 30
    no_js_errors(page, REFUSALS)


async def test_an_erased_interview_offers_no_changes_and_shows_its_files(
    hub: Hub, new_context: Any, fresh_org: Org
) -> None:
    """A reset clicked on an interview erased behind the console's back shows the server's interview_erased message; the erased interview's detail then hides end, reset, new link and second entry, and shows Redis' files as "pending" until they are "rewritten", by itself."""
    from tests.conftest import keyed_store

    org = fresh_org
    created = await create(hub, org)
    iv = created["interview_id"]
    async with CandidateClient(hub.ws, created["token"], PHONE) as c:
        await c.join()
        await c.request_exit()
        await c.confirm_exit()
    page = await login(new_context, org, "admin")
    await open_detail(page, iv)
    await expect(page.locator("#reset-open")).to_be_visible()
    await expect(page.locator("#detail-erased-box")).to_be_hidden()
    erased = await api(
        hub, org, "admin", "POST", f"/api/hr/interviews/{iv}/erase", json={"confirm": True}
    )
    assert erased["erased_ms"] > 0
    # as from a console that has not looked again since (it may have, and hidden it)
    await page.locator("#reset-open").dispatch_event("click")
    await page.click("#reset-confirm")
    error = page.locator("#action-error")
    await expect(error).to_have_attribute("data-reason", "interview_erased", timeout=T)
    await expect(error).to_contain_text(messages("interview_erased")["en"])
    store = keyed_store(hub.redis_url)
    try:  # as while a slow rewrite runs on: the console looks again until it is done
        await store.set_files_state([iv], "pending", 0)
        await page.reload()
        files = page.locator("#detail-erased")
        await expect(files).to_have_attribute("data-files", "pending", timeout=T)
        await expect(files).to_contain_text("being rewritten")
        for hidden in ("#end-open", "#reset-open", "#link-resend", "#reentry-grant"):
            await expect(page.locator(hidden)).to_be_hidden()
        await expect(page.locator("#erase-open")).to_be_visible()  # again: a retry
        await store.set_files_state([iv], "rewritten", 0)
        await expect(files).to_have_attribute("data-files", "rewritten", timeout=T)
        await expect(files).to_contain_text("rewritten without it")
    finally:
        await store.close()
    no_js_errors(page, REFUSALS)


STRONG = "Violet-harbour-7-lanterns"  # passes the password policy


async def test_role_editor_takes_every_permission_from_the_server(
    hub: Hub, new_context: Any, fresh_org: Org
) -> None:
    """The role editor shows a box for every permission the server names; saving the admin
    role unchanged keeps data.erase and user.manage (a hand-copied list used to drop them)."""
    org = fresh_org
    before = (await api(hub, org, "admin", "GET", "/api/hr/roles"))["roles"]
    page = await login(new_context, org, "admin")
    await page.click("#nav-roles")
    for perm in (await api(hub, org, "admin", "GET", "/api/hr/roles"))["permissions"]:
        await expect(page.locator(f'input[data-role="admin"][data-perm="{perm}"]')).to_be_checked(
            timeout=T
        )
    await expect(
        page.locator('input[data-role="recruiting_manager"][data-perm="data.erase"]')
    ).not_to_be_checked()
    for role in ("admin", "recruiting_manager"):
        await page.click(f"#role-save-{role}")
        await expect(page.locator("#action-done")).to_be_visible(timeout=T)
        await expect(page.locator("#action-done")).to_contain_text(
            "Administrator" if role == "admin" else "Recruiting manager"
        )
    after = (await api(hub, org, "admin", "GET", "/api/hr/roles"))["roles"]
    assert after["admin"] == before["admin"] and "data.erase" in after["admin"]
    assert "user.manage" in after["admin"]
    assert after["recruiting_manager"] == before["recruiting_manager"]
    no_js_errors(page, REFUSALS)


async def test_users_screen_disables_resets_and_deletes(
    hub: Hub, new_context: Any, fresh_org: Org
) -> None:
    """An admin disables a recruiter (whose open console returns to the login saying so),
    enables them, resets their password (the policy's refusal shown in the dialog), adds a
    user and deletes one after a confirm; a recruiter has no users screen."""
    org = fresh_org
    name = org.users["recruiter"]
    recruiter = await login(new_context, org, "recruiter")
    await expect(recruiter.locator("#nav-users")).to_be_hidden()
    admin = await login(new_context, org, "admin")
    await admin.click("#nav-users")
    row = admin.locator(f'tr[data-account="{name}"]')
    badge = row.locator('[data-field="account-state"]')
    await expect(badge).to_have_attribute("data-state", "active", timeout=T)
    own = admin.locator(f'tr[data-account="{org.users["admin"]}"]')
    await expect(own.locator("button")).to_have_count(0)  # not on one's own account

    await row.locator(f'button[data-account-toggle="{name}"]').click()
    await expect(badge).to_have_attribute("data-state", "disabled", timeout=T)
    await expect(badge).to_have_text("Disabled")
    await expect(recruiter.locator("#login-view")).to_be_visible(timeout=T)
    await expect(recruiter.locator("#login-error")).to_have_text(messages("account_disabled")["en"])
    await row.locator(f'button[data-account-toggle="{name}"]').click()
    await expect(badge).to_have_attribute("data-state", "active", timeout=T)

    await row.locator(f'button[data-account-reset="{name}"]').click()
    await expect(admin.locator("#user-reset-dialog")).to_be_visible()
    await admin.fill("#user-reset-password", "short")
    await admin.click("#user-reset-confirm")
    await expect(admin.locator("#user-reset-error")).to_have_text(
        messages("password_too_short:12")["en"], timeout=T
    )
    await admin.fill("#user-reset-password", STRONG)
    await admin.click("#user-reset-confirm")
    await expect(admin.locator("#user-reset-dialog")).to_be_hidden(timeout=T)
    await expect(admin.locator("#action-done")).to_contain_text(name)
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post("/api/hr/login", json={"username": name, "password": STRONG})
        assert r.status_code == 200

    newcomer = f"{org.name}-newcomer"
    await admin.fill("#user-add-name", newcomer)
    await admin.fill("#user-add-password", "password1234")
    await admin.click("#user-add-submit")
    await expect(admin.locator("#action-error")).to_have_attribute(
        "data-reason", "password_too_common", timeout=T
    )
    await admin.fill("#user-add-password", STRONG)
    await admin.click("#user-add-submit")
    await expect(admin.locator(f'tr[data-account="{newcomer}"]')).to_have_count(1, timeout=T)

    await admin.locator(f'button[data-account-delete="{newcomer}"]').click()
    await expect(admin.locator("#user-delete-dialog")).to_be_visible()
    await expect(admin.locator("#user-delete-cancel")).to_be_focused()
    await admin.click("#user-delete-confirm")
    await expect(admin.locator(f'tr[data-account="{newcomer}"]')).to_have_count(0, timeout=T)
    users = await api(hub, org, "admin", "GET", "/api/hr/users")
    assert newcomer not in [u["name"] for u in users["users"]]
    await screenshot(admin, "console-users")
    no_js_errors(admin, (*REFUSALS, "400"))  # the policy's refusals are 400
    no_js_errors(recruiter, REFUSALS)


async def test_change_own_password_and_log_out_everywhere(
    hub: Hub, new_context: Any, fresh_org: Org
) -> None:
    """A user changes their password under My account (the current one is needed; the
    other browser is logged out, this one stays), then logs out everywhere: both go back to
    the login. The screen is in zh-CN too."""
    org = fresh_org
    name = org.users["interview_lead"]
    here = await login(new_context, org, "interview_lead")
    there = await login(new_context, org, "interview_lead")
    await here.click("#nav-account")
    await expect(here.locator("#account-view")).to_be_visible(timeout=T)
    await expect(here.locator("#pw-rule")).to_contain_text("12")
    await here.fill("#pw-current", "wrong-current")
    await here.fill("#pw-new", STRONG)
    await here.fill("#pw-repeat", STRONG)
    await here.click("#pw-submit")
    await expect(here.locator("#pw-error")).to_have_text(
        messages("wrong_password")["en"], timeout=T
    )
    await here.fill("#pw-current", "pw-" + name)
    await here.fill("#pw-new", STRONG)
    await here.fill("#pw-repeat", STRONG + "x")
    await here.click("#pw-submit")
    await expect(here.locator("#pw-error")).to_have_attribute("data-reason", "mismatch")
    await here.fill("#pw-repeat", STRONG)
    await here.click("#pw-submit")
    await expect(here.locator("#action-done")).to_be_visible(timeout=T)
    await expect(there.locator("#login-view")).to_be_visible(timeout=T)
    await expect(here.locator("#whoami")).to_have_text(name)
    await expect(here.locator("#live-status")).to_have_attribute("data-status", "live")

    await there.fill("#login-user", name)
    await there.fill("#login-password", STRONG)
    await there.click("#login-submit")
    await expect(there.locator("#whoami")).to_have_text(name, timeout=T)

    await here.select_option("#lang-select", "zh-CN")
    await expect(here.locator("#account-heading")).to_have_text("我的账号")
    await expect(here.locator("#logout-all")).to_have_text("在所有设备上退出")
    await expect(here.locator("#pw-rule")).to_contain_text("至少 12 个字符")
    await screenshot(here, "console-account")
    await here.click("#logout-all")
    await expect(here.locator("#login-view")).to_be_visible(timeout=T)
    await expect(there.locator("#login-view")).to_be_visible(timeout=T)
    no_js_errors(here, REFUSALS)
    no_js_errors(there, REFUSALS)
