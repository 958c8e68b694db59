"""The two web surfaces, served by the hub itself: the candidate app and the HR console.

Plain ES modules from ``client/web`` (no bundler); msgpack comes from the npm package
``@msgpack/msgpack`` installed by ``npm ci --prefix client/web`` (its ``dist.esm`` loads
in the browser as it is). Every page gets a strict Content-Security-Policy, and no page
sends a Referer, because the invitation token is part of the candidate's URL.
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("interview_hub.web")

WEB_ROOT = Path(__file__).resolve().parent.parent / "client" / "web"
MSGPACK_DIST = WEB_ROOT / "node_modules" / "@msgpack" / "msgpack" / "dist.esm"
MISSING_MSGPACK = (
    "The web app needs its npm dependencies: run `npm ci --prefix client/web` "
    "(the README's commands do it), then restart the hub.\n"
    "网页端缺少 npm 依赖：请运行 `npm ci --prefix client/web`，然后重启服务。\n"
)

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


def page(name: str) -> Response:
    """One of the app pages; never cached, as its URL may carry an invitation token."""
    return FileResponse(
        WEB_ROOT / name / "index.html",
        headers={**SECURITY_HEADERS, "cache-control": "no-store"},
    )


async def candidate_page(request: Request) -> Response:
    return page("candidate")


async def console_page(request: Request) -> Response:
    return page("hr")


async def favicon(request: Request) -> Response:
    return FileResponse(WEB_ROOT / "shared" / "icon.svg", media_type="image/svg+xml")


async def missing_vendor(request: Request) -> Response:
    return PlainTextResponse(MISSING_MSGPACK, status_code=503)


def routes() -> list[BaseRoute]:
    """Pages: /i/<token> and / (candidate), /practice (mock interview), /hr (console); assets."""
    if not (MSGPACK_DIST / "index.mjs").is_file():
        log.error(MISSING_MSGPACK.splitlines()[0])
        vendor: ASGIApp | None = None
    else:
        vendor = SecureStatic(MSGPACK_DIST)
    return [
        Route("/i/{token}", candidate_page, include_in_schema=False),
        Route("/practice", candidate_page, include_in_schema=False),
        Route("/hr", console_page, include_in_schema=False),
        # the site root is the candidates' way in (the candidate page); HR has /hr
        Route("/", candidate_page, include_in_schema=False),
        Route("/favicon.ico", favicon, include_in_schema=False),
        Mount("/web/candidate", app=SecureStatic(WEB_ROOT / "candidate")),
        Mount("/web/hr", app=SecureStatic(WEB_ROOT / "hr")),
        Mount("/web/shared", app=SecureStatic(WEB_ROOT / "shared")),
        Mount("/web/vendor/msgpack", app=vendor)
        if vendor
        else Route("/web/vendor/msgpack/{path:path}", missing_vendor, include_in_schema=False),
    ]


__all__ = ["SECURITY_HEADERS", "WEB_ROOT", "routes"]
