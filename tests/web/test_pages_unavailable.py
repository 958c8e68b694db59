"""A hub whose web pages lack their npm dependency says so, at start and on every page."""

from __future__ import annotations

import shutil

import httpx
from playwright.async_api import expect

from server.web import WEB_ROOT
from tests.conftest import Hub, Org, start_hub
from tests.web.conftest import new_page, screenshot
from tests.web.test_candidate import create


async def test_missing_node_modules_is_said_at_start_and_on_the_pages(
    hub: Hub, org: Org, new_context, tmp_path
) -> None:
    """Without client/web/node_modules the hub logs how to fix it at start, and the candidate page and the console answer 503 with a notice in zh-CN and en instead of a page that never renders."""
    web_root = tmp_path / "web"
    shutil.copytree(WEB_ROOT, web_root, ignore=shutil.ignore_patterns("node_modules"))
    own = start_hub(hub.redis_url, tmp_path, HUB_WEB_ROOT=str(web_root))
    try:
        assert "npm ci --prefix client/web" in own.log()  # said at start, before any page
        link = (await create(hub, org, questions=1))["link"].replace(hub.http, own.http)
        for locale in ("zh-CN", "en-US"):
            context = await new_context(locale=locale, base_url=own.http)
            page = await new_page(context)
            response = await page.goto(link)
            assert response is not None and response.status == 503
            notice = page.locator("#pages-unavailable")
            await expect(notice).to_contain_text("页面暂时无法使用")
            await expect(notice).to_contain_text("This page is temporarily unavailable")
            await expect(notice).to_contain_text("npm ci --prefix client/web")
            await screenshot(page, "pages-unavailable")
        async with httpx.AsyncClient(base_url=own.http) as http:
            console = await http.get("/hr")
            assert console.status_code == 503 and "temporarily unavailable" in console.text
            assert "script" not in console.text  # nothing that could not run
    finally:
        own.stop()
