"""Security headers (server/headers.py) on every kind of answer the hub gives: JSON of the
candidate and HR APIs (answers and reports included), the printable report, the API
docs, the web pages and their static files, errors, and refused websocket handshakes."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from protocol import SUBPROTOCOL
from tests.conftest import Hub, Org, interview_body


def assert_baseline(headers: httpx.Headers | websockets.datastructures.Headers, what: str) -> None:
    assert headers.get("x-content-type-options") == "nosniff", what
    assert headers.get("referrer-policy") == "no-referrer", what
    csp = headers.get("content-security-policy") or ""
    assert "frame-ancestors 'none'" in csp, what


async def test_every_kind_of_http_answer_has_the_security_headers(hub: Hub, org: Org) -> None:
    """JSON (candidate and HR, answers and reports), HTML (docs, pages), files and errors all carry nosniff, no-referrer and a CSP; all but the static files under /web/ are no-store."""
    auth = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (
            await http.post("/api/hr/interviews", json=interview_body(), headers=auth)
        ).json()
        iv = f"/api/hr/interviews/{created['interview_id']}"
        assert (await http.post(f"{iv}/report", headers=auth)).status_code == 201
        answers = [
            ("GET", "/healthz", {}, None),
            ("POST", "/api/candidate/centre", {}, {"token": "x.y", "identity": "1"}),
            ("POST", "/api/candidate/answer", {}, {"token": "x.y", "identity": "1"}),
            ("POST", "/api/candidate/exit", {}, {}),
            ("GET", "/api/candidate/media-config", {}, None),
            ("POST", "/api/hr/login", {}, {"username": "nobody", "password": "x"}),
            ("GET", "/api/hr/session", {}, None),
            ("GET", "/api/hr/interviews", auth, None),
            ("GET", iv, auth, None),  # the answers
            ("GET", f"{iv}/report", auth, None),
            ("GET", f"{iv}/report.html", auth, None),
            ("GET", f"{iv}/log", auth, None),
            ("GET", f"{iv}/answers/0/recording.webm", auth, None),  # 404 no_recording
            ("GET", "/api/hr/interviews", {}, None),  # 401
            ("GET", "/docs", {}, None),
            ("GET", "/openapi.json", {}, None),
            ("GET", "/hr", {}, None),
            ("GET", f"/i/{created['token']}", {}, None),
            ("GET", "/no/such/page", {}, None),  # 404
            ("POST", "/healthz", {}, None),  # 405
            ("GET", "/web/hr/console.js", {}, None),
            ("GET", "/favicon.ico", {}, None),
        ]
        for method, path, headers, body in answers:
            r = await http.request(method, path, headers=headers, json=body)
            what = f"{method} {path} -> {r.status_code}"
            assert_baseline(r.headers, what)
            if path.startswith(("/web/", "/favicon")):
                assert "no-store" not in r.headers.get("cache-control", ""), what
            else:
                assert r.headers.get("cache-control") == "no-store", what


async def test_the_printable_report_may_run_no_script(hub: Hub, org: Org) -> None:
    """report.html has its own CSP: nothing may load or run but its one inline style sheet (by hash), and the page holds no script."""
    auth = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (
            await http.post("/api/hr/interviews", json=interview_body(), headers=auth)
        ).json()
        iv = f"/api/hr/interviews/{created['interview_id']}"
        await http.post(f"{iv}/report", headers=auth)
        r = await http.get(f"{iv}/report.html", headers=auth)
    csp = r.headers["content-security-policy"]
    assert csp.startswith("default-src 'none';") and "script-src" not in csp
    style = re.search(r"<style>(.*?)</style>", r.text, re.S)
    assert style is not None and "<script" not in r.text.lower()
    digest = base64.b64encode(hashlib.sha256(style[1].encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
async def test_api_docs_fetch_nothing(hub: Hub, path: str) -> None:
    """The API docs and their JSON may load or run nothing (default-src 'none')."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.get(path)
    assert r.headers["content-security-policy"].startswith("default-src 'none'")


async def test_a_refused_websocket_handshake_has_the_headers(hub: Hub) -> None:
    """The 403 that refuses a websocket handshake (a foreign Origin) carries the same headers."""
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(
            hub.ws, subprotocols=[SUBPROTOCOL], origin="https://evil.example"
        ):
            pass
    response = refused.value.response
    assert response.status_code == 403
    assert_baseline(response.headers, "refused handshake")
    assert response.headers.get("cache-control") == "no-store"
