"""Security headers on every HTTP answer of the hub, in one place.

``SecurityHeaders`` wraps the whole app: each answer (JSON, HTML, files, a refused
websocket handshake) gets the baseline below unless it set the header itself, so a route
that says nothing is safe by default, and a page that needs more (the web app's own CSP,
``web.SECURITY_HEADERS``; the report's, ``REPORT_CSP``) says so on its answer.

- ``Cache-Control: no-store``: answers carry personal data (names, answers, reports, the
  candidate's token in the page URL); only the static files under ``/web/`` may be cached.
- ``Content-Security-Policy`` fetching nothing: a JSON answer or a plain page opened in a
  browser can run no script and load nothing, and no page may be framed.
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``.

It also ends quietly a request whose client went away (``ClientDisconnect``): nobody is
left to answer, and an outsider must not be able to fill the log with tracebacks.
"""

from __future__ import annotations

import hashlib
import logging
import re
from base64 import b64encode
from pathlib import Path
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("interview_hub.headers")

NOTHING_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
BASELINE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "content-security-policy": NOTHING_CSP,
}
CACHEABLE_PREFIXES = ("/web/", "/favicon.ico")


def _style_hash(template: Path) -> str:
    """The CSP hash of the one inline <style> of a template (it holds no template code)."""
    style = re.search(r"<style>(.*?)</style>", template.read_text(encoding="utf-8"), re.S)
    digest = hashlib.sha256(style[1].encode() if style else b"").digest()
    return f"'sha256-{b64encode(digest).decode()}'"


# the printable report: its own style sheet and nothing else, no script at all
REPORT_TEMPLATE = Path(__file__).parent / "templates" / "report.html"
REPORT_CSP = (
    f"default-src 'none'; style-src {_style_hash(REPORT_TEMPLATE)}; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """ASGI middleware: the baseline headers on every HTTP answer (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        cacheable = scope["type"] == "http" and scope["path"].startswith(CACHEABLE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                message["headers"] = with_baseline(message.get("headers", []), cacheable)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except ClientDisconnect:
            log.debug("client went away during %s", scope.get("path"))


def with_baseline(headers: Any, cacheable: bool = False) -> list[tuple[bytes, bytes]]:
    """``headers`` plus each baseline header they do not have."""
    out = list(headers)
    present = {bytes(name).lower() for name, _ in out}
    for name, value in BASELINE.items():
        if name.encode() in present or (cacheable and name == "cache-control"):
            continue
        out.append((name.encode(), value.encode()))
    return out


__all__ = ["BASELINE", "REPORT_CSP", "SecurityHeaders", "with_baseline"]
