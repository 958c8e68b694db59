"""The two web surfaces, served by the hub itself: the candidate app and the HR console.

Plain ES modules from ``client/web`` (no bundler); msgpack comes from the npm package
``@msgpack/msgpack`` installed by ``npm ci --prefix client/web`` (its ``dist.esm`` loads
in the browser as it is). Every page gets a strict Content-Security-Policy, and no page
sends a Referer, because the invitation token is part of the candidate's URL.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("interview_hub.web")

WEB_ROOT = Path(__file__).resolve().parent.parent / "client" / "web"
# where msgpack's browser build lies inside a web root (npm ci puts it there)
MSGPACK_DIST = Path("node_modules") / "@msgpack" / "msgpack" / "dist.esm"
MISSING_MSGPACK = (
    "The web app needs its npm dependencies: run `npm ci --prefix client/web` "
    "(the README's commands do it), then restart the hub.\n"
    "网页端缺少 npm 依赖：请运行 `npm ci --prefix client/web`，然后重启服务。\n"
)

# Served for every page while msgpack is missing: both languages, no script (none would run).
UNAVAILABLE_PAGE = """<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>暂时无法使用 · Temporarily unavailable</title>
<link rel="stylesheet" href="/web/candidate/candidate.css"></head>
<body>
<main><section id="pages-unavailable" class="card">
<h1>页面暂时无法使用</h1>
<p>服务器缺少网页端所需的文件，页面无法显示。您的面试和已作答的内容不受影响。
请稍后再试，或联系邀请您的 HR。</p>
<p>管理员：请在服务器上运行 <code>npm ci --prefix client/web</code>，然后重启服务。</p>
<h1 lang="en">This page is temporarily unavailable</h1>
<p lang="en">The server is missing files the web pages need, so the page cannot be shown.
Your interview and your answers are not affected. Please try again later, or contact the
HR team that invited you.</p>
<p lang="en">Administrators: run <code>npm ci --prefix client/web</code> on the server,
then restart the hub.</p>
</section></main>
</body>
</html>
"""

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(self), microphone=(self), geolocation=()",
}


class SecureStatic:
    """StaticFiles with the security headers on every answer."""

    def __init__(self, directory: Path) -> None:
        self.files = StaticFiles(directory=directory, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message["headers"] = headers
            await send(message)

        await self.files(scope, receive, send_with_headers)


def pages_unavailable(request: Request) -> Response:
    """Instead of a page whose script never loads (a blank screen), say what is missing.

    Plain HTML without a script: it must show even though the scripts cannot run.
    """
    return HTMLResponse(
        UNAVAILABLE_PAGE,
        status_code=503,
        headers={**SECURITY_HEADERS, "cache-control": "no-store", "retry-after": "60"},
    )


async def missing_vendor(request: Request) -> Response:
    return PlainTextResponse(MISSING_MSGPACK, status_code=503)


def routes(web_root: Path | None = None) -> list[BaseRoute]:
    """Pages: /i/<token> and / (candidate), /practice (mock interview), /hr (console); assets.

    Without msgpack's browser build every page would load and never render (its module
    import fails): the hub says so at start, and the pages say so instead.
    """
    root = web_root or WEB_ROOT
    msgpack = root / MSGPACK_DIST
    vendor: ASGIApp | None = None
    if (msgpack / "index.mjs").is_file():
        vendor = SecureStatic(msgpack)
    else:
        log.error("%s (missing: %s)", MISSING_MSGPACK.splitlines()[0], msgpack)

    def page(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            if vendor is None:
                return pages_unavailable(request)
            # never cached, as its URL may carry an invitation token
            return FileResponse(
                root / name / "index.html",
                headers={**SECURITY_HEADERS, "cache-control": "no-store"},
            )

        return serve

    async def favicon(request: Request) -> Response:
        return FileResponse(root / "shared" / "icon.svg", media_type="image/svg+xml")

    candidate_page = page("candidate")
    return [
        Route("/i/{token}", candidate_page, include_in_schema=False),
        Route("/practice", candidate_page, include_in_schema=False),
        Route("/hr", page("hr"), include_in_schema=False),
        # the site root is the candidates' way in (the candidate page); HR has /hr
        Route("/", candidate_page, include_in_schema=False),
        Route("/favicon.ico", favicon, include_in_schema=False),
        Mount("/web/candidate", app=SecureStatic(root / "candidate")),
        Mount("/web/hr", app=SecureStatic(root / "hr")),
        Mount("/web/shared", app=SecureStatic(root / "shared")),
        Mount("/web/vendor/msgpack", app=vendor)
        if vendor
        else Route("/web/vendor/msgpack/{path:path}", missing_vendor, include_in_schema=False),
    ]


__all__ = ["SECURITY_HEADERS", "WEB_ROOT", "routes"]
