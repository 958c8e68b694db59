"""The organisation's ATS webhook in the HR console (real hubs, real Redis, Debian's
Chromium): an admin sets it, sees the signing secret once and the deliveries as they are
made; a user without user.manage does not see it.

The hub that delivers has a Redis of its own: every hub on a Redis delivers its outbox, and
only this module's hub may post to a loopback receiver (``HUB_WEBHOOK_PRIVATE=1``)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Page, expect

from server.store.embedded import EmbeddedRedis
from server.webhooks import fingerprint
from tests.conftest import Hub, Org, make_org
from tests.server.test_webhooks import Receiver, completed
from tests.web.conftest import PHONE, no_js_errors, screenshot
from tests.web.test_console import REFUSALS, T, api, login

LAPTOP = {"width": 1366, "height": 768}
DELIVERY_T = 30_000  # ms: a report made, queued and posted on a loaded machine


async def everything_shown(page: Page) -> str:
    """The page's text and every field's value: where a secret could still be read."""
    return str(
        await page.evaluate(
            "document.body.innerText + ' ' + [...document.querySelectorAll('input, textarea')]"
            ".map((el) => el.value).join(' ')"
        )
    )


async def sideways_overflow(page: Page) -> int:
    return int(await page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


async def test_admin_sets_the_webhook_sees_the_secret_once_and_the_deliveries(
    webhook_hub: Hub, ats_redis: EmbeddedRedis, new_context: Any
) -> None:
    """An admin's refused address is explained in words; a saved one shows its secret once (gone after a reload, its fingerprint stays); a report made then is listed as delivered without a reload; a rotation shows the new secret once; removing it asks first."""
    hub = webhook_hub
    org = await make_org(hub, ats_redis.url)
    receiver = Receiver()
    try:
        page = await login(new_context, org, "admin", base_url=hub.http, viewport=LAPTOP)
        await page.click("#nav-roles")
        await expect(page.locator("#webhook-section")).to_be_visible(timeout=T)
        await expect(page.locator("#webhook-status")).to_have_attribute("data-set", "false")
        await expect(page.locator("#webhook-rotate")).to_be_hidden()

        await page.fill("#webhook-url", "ftp://127.0.0.1/x")
        await page.click("#webhook-save")
        refused = page.locator("#webhook-error")
        await expect(refused).to_have_attribute("data-reason", re.compile("^bad_field:"), timeout=T)
        await expect(refused).to_contain_text(
            "The webhook was not saved: the address must start with https://"
        )
        await expect(page.locator("#webhook-secret-box")).to_be_hidden()

        await page.fill("#webhook-url", receiver.url)
        await page.uncheck("#webhook-event-decision")
        await page.click("#webhook-save")
        box = page.locator("#webhook-secret-box")
        await expect(box).to_be_visible(timeout=T)
        await expect(box).to_contain_text("it will not be shown again")
        await expect(page.locator("#webhook-done")).to_have_text("Webhook saved.")
        await expect(refused).to_be_hidden()
        secret = await page.input_value("#webhook-secret")
        assert secret.startswith("whsec_")
        stored = await api(hub, org, "admin", "GET", "/api/hr/org/webhook")
        assert (stored["url"], stored["events"]) == (receiver.url, ["report.ready"])
        assert stored["secret_fingerprint"] == fingerprint(secret)  # the one shown is in use
        await expect(page.locator("#webhook-fingerprint")).to_have_text(fingerprint(secret))
        await expect(page.locator("#webhook-deliveries-empty")).to_be_visible()

        await page.reload()
        await expect(page.locator("#webhook-status")).to_have_attribute(
            "data-set", "true", timeout=T
        )
        await expect(page.locator("#webhook-url")).to_have_value(receiver.url)
        await expect(page.locator("#webhook-event-report")).to_be_checked()
        await expect(page.locator("#webhook-event-decision")).not_to_be_checked()
        await expect(page.locator("#webhook-fingerprint")).to_have_text(fingerprint(secret))
        await expect(box).to_be_hidden()
        assert secret not in await everything_shown(page)
        kept = await page.evaluate("JSON.stringify([{...localStorage}, {...sessionStorage}])")
        assert secret not in kept

        await expect(page.locator("#live-status")).to_have_attribute("data-status", "live")
        await page.evaluate("window.__notReloaded = true")
        async with httpx.AsyncClient(base_url=hub.http) as http:
            iv = await completed(hub, http, org)  # its automatic report: report.ready
        row = page.locator('[data-testid="webhook-delivery"]')
        await expect(row).to_have_count(1, timeout=DELIVERY_T)
        await expect(row).to_have_attribute("data-state", "sent", timeout=DELIVERY_T)
        await expect(row).to_have_attribute("data-kind", "report.ready")
        await expect(row).to_contain_text("New report version")
        await expect(row).to_contain_text("delivered")
        link = row.locator('[data-testid="webhook-delivery-interview"]')
        await expect(link).to_have_attribute("href", f"#iv/{iv}")
        await expect(link).to_contain_text("HR Test")  # the candidate, not the id
        assert await page.evaluate("window.__notReloaded") is True
        assert len(receiver.accepted("report.ready")) == 1
        assert await sideways_overflow(page) <= 0
        await page.locator("#webhook-section").evaluate("(el) => el.scrollIntoView()")
        await screenshot(page, "console-webhook")
        await page.set_viewport_size(PHONE)
        await expect(row).to_be_visible()
        assert await sideways_overflow(page) <= 0
        await page.locator("#webhook-section").evaluate("(el) => el.scrollIntoView()")
        await screenshot(page, "console-webhook-phone")
        await page.set_viewport_size(LAPTOP)

        await page.click("#webhook-rotate")
        await expect(page.locator("#webhook-rotate-dialog")).to_be_visible()
        await expect(page.locator("#webhook-rotate-cancel")).to_be_focused()
        await page.click("#webhook-rotate-confirm")
        await expect(box).to_be_visible(timeout=T)
        rotated = await page.input_value("#webhook-secret")
        assert rotated.startswith("whsec_") and rotated != secret
        await expect(page.locator("#webhook-fingerprint")).to_have_text(fingerprint(rotated))
        await page.click("#webhook-secret-hide")
        await expect(box).to_be_hidden()
        assert rotated not in await everything_shown(page)

        await page.click("#webhook-remove")
        await expect(page.locator("#webhook-remove-cancel")).to_be_focused()
        await page.click("#webhook-remove-cancel")
        assert (await api(hub, org, "admin", "GET", "/api/hr/org/webhook"))["url"] == receiver.url
        await page.click("#webhook-remove")
        await page.click("#webhook-remove-confirm")
        await expect(page.locator("#webhook-status")).to_have_attribute(
            "data-set", "false", timeout=T
        )
        await expect(page.locator("#webhook-done")).to_have_text("The webhook was removed.")
        await expect(page.locator("#webhook-rotate")).to_be_hidden()
        assert (await api(hub, org, "admin", "GET", "/api/hr/org/webhook"))["url"] == ""
        no_js_errors(page, (*REFUSALS, "400"))
        assert hub.errors() == []
    finally:
        receiver.stop()


async def test_the_webhook_section_needs_user_manage(
    hub: Hub, new_context: Any, fresh_org: Org
) -> None:
    """A recruiter has no settings page and no webhook section; given role management but not user management, they see the roles page without the webhook section and never ask for it."""
    org = fresh_org
    page = await login(new_context, org, "recruiter")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/hr/org/webhook" in r.url else None)
    await expect(page.locator("#nav-roles")).to_be_hidden()
    await page.goto("/hr#roles")
    await expect(page.locator("#list-view")).to_be_visible(timeout=T)
    await expect(page.locator("#webhook-section")).to_be_hidden()

    roles = await api(hub, org, "admin", "GET", "/api/hr/roles")
    granted = [*roles["roles"]["recruiter"], "role.manage"]
    await api(hub, org, "admin", "PUT", "/api/hr/roles/recruiter", json={"permissions": granted})
    await page.reload()
    await page.click("#nav-roles")
    await expect(page.locator("#roles-view")).to_be_visible(timeout=T)
    await expect(page.locator('#roles-table input[data-role="recruiter"]').first).to_be_visible(
        timeout=T
    )
    await expect(page.locator("#webhook-section")).to_be_hidden()
    await expect(page.locator("#org-profile-form")).to_be_hidden()  # the same rule
    assert asked == []
    no_js_errors(page, REFUSALS)
