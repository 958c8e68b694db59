"""Signed webhooks to an organisation's ATS: ``report.ready`` and ``decision.made``.

An organisation's admin sets a URL (``PUT /api/hr/org/webhook``); the hub then POSTs each
new report version and each person's decision there as JSON, through the notification
outbox (server/notify.py: a durable Redis stream, retries with back-off, exactly one
acceptance marked; a redelivery carries the same ``id``). The body is signed with the
organisation's secret: ``X-Interview-Hub-Signature: t=<unix seconds>,v1=<hex>`` where
``v1 = HMAC-SHA256(secret, "<t>." + body)`` (``verify`` below is what a receiver does).

The secret is derived from the hub's secret, the organisation and a generation, so it is
never stored: a rotation moves the generation on and the old secret stops signing at once.
It is shown once, when it is made. Docs: docs/assessment.md "Webhooks".
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import time
from typing import Any
from urllib.parse import urlsplit

from server.notify import Notifier, Outgoing, Undeliverable
from server.settings import Settings
from server.store import Store

EVENTS = ("report.ready", "decision.made")
SIGNATURE = "X-Interview-Hub-Signature"
EVENT = "X-Interview-Hub-Event"
DELIVERY = "X-Interview-Hub-Delivery"
TOLERANCE_S = 300  # a receiver refuses a signature older than this (replays)
MAX_URL = 2_000
# Domain separation from identity hashes (upper-case letters and digits only) and the
# operation log's key label
SECRET_LABEL = "interview-hub/webhook-signing-secret/v1"


def signing_secret(hub_secret: str, org: str, generation: int) -> str:
    message = f"{SECRET_LABEL}|{org}|{generation}".encode()
    return "whsec_" + hmac.new(hub_secret.encode(), message, hashlib.sha256).hexdigest()


def fingerprint(secret: str) -> str:
    """Which secret is in use, without it: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, now_s: int, tolerance_s: int = TOLERANCE_S
) -> bool:
    """What a receiver checks: the header's MAC over "<t>." + the raw body, and t within
    ``tolerance_s`` of now (a captured delivery cannot be replayed later)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now_s - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).rpartition("v1=")[2]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def strip_query(url: str) -> str:
    """A URL for logs and HR's pages: scheme, host and path (a query may carry a key)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


async def destination_problem(url: str, allow_private: bool) -> str:
    """Why the hub will not POST to ``url`` ("" when it will): not http(s), credentials in
    it, a name that does not resolve, or an address inside the hub's network (loopback,
    private, link-local...) unless the operator allows those; http:// only to those."""
    if len(url) > MAX_URL:
        return f"the URL is longer than {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "the URL does not parse"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the URL must be http(s)://host/..."
    if parts.username or parts.password:
        return "the URL must not carry credentials (the receiver checks the signature)"
    try:
        found = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port)
    except OSError:
        return f"the host {parts.hostname} does not resolve"
    inside = [
        a
        for a in (ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found)
        if not a.is_global
    ]
    if inside and not allow_private:
        return f"the host {parts.hostname} is inside the hub's network ({inside[0]})"
    if parts.scheme == "http" and not inside:
        return "a receiver outside the hub's network must use https (the body holds the report)"
    return ""


class AtsProvider:
    """Sends one delivery: the organisation's webhook as it is set now (a fixed URL or a
    rotated secret applies to deliveries still waiting), signed at each attempt."""

    name = "ats"

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    async def send(self, message: Outgoing) -> None:
        org, event = message.to, message.subject
        config = await self.store.webhook(org)
        if not config["url"]:
            raise Undeliverable("the organisation has no webhook now")
        problem = await destination_problem(config["url"], bool(self.settings.webhook_private))
        if problem:
            raise Undeliverable(problem)
        secret = signing_secret(self.settings.secret, org, int(config["gen"] or 0))
        body = message.body.encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "interview-hub-webhook/1",
            EVENT: event,
            DELIVERY: message.msg_id,
            "Idempotency-Key": message.msg_id,
            SIGNATURE: sign(secret, int(time.time()), body),  # when sent, not queued,
        }
        # never a redirect: the check above is of this URL only
        import httpx  # loaded on first use: a hub that never posts starts faster

        async with httpx.AsyncClient(timeout=10, follow_redirects=False) as http:
            answer = await http.post(config["url"], content=body, headers=headers)
        if not 200 <= answer.status_code < 300:
            raise RuntimeError(f"the receiver answered HTTP {answer.status_code}")


class Webhooks:
    """The organisation's webhook setting, and the events put on the outbox."""

    def __init__(self, store: Store, settings: Settings, notifier: Notifier) -> None:
        self.store = store
        self.settings = settings
        self.notifier = notifier

    async def config(self, org: str) -> dict[str, Any]:
        stored = await self.store.webhook(org)
        gen = int(stored["gen"] or 0)
        return {
            "url": stored["url"],
            "events": [e for e in stored["events"].split(",") if e] if stored["url"] else [],
            "secret_fingerprint": fingerprint(signing_secret(self.settings.secret, org, gen))
            if stored["url"] and gen
            else "",
            "secret_made_ms": int(stored["secret_ms"] or 0) if stored["url"] else 0,
        }

    async def configure(
        self, org: str, url: str, events: list[str], rotate: bool, now: int
    ) -> tuple[dict[str, Any], str]:
        """Set the URL and events; a new secret the first time or on ``rotate`` (returned,
        else ""). Raise ValueError with the reason for a URL or event refused."""
        url = url.strip()
        unknown = [e for e in events if e not in EVENTS]
        if unknown or not events:
            raise ValueError(f"events must be some of {', '.join(EVENTS)}")
        problem = await destination_problem(url, bool(self.settings.webhook_private))
        if problem:
            raise ValueError(problem)
        stored = await self.store.webhook(org)
        secret = ""
        changes = {"url": url, "events": ",".join(e for e in EVENTS if e in events)}
        if rotate or not stored["gen"]:
            gen = await self.store.next_webhook_generation(org)
            secret = signing_secret(self.settings.secret, org, gen)
            changes["secret_ms"] = str(now)
        await self.store.set_webhook(org, changes)
        return await self.config(org), secret

    async def remove(self, org: str) -> None:
        await self.store.set_webhook(org, {"url": "", "events": ""})

    async def report_ready(
        self, meta: dict[str, str], report: dict[str, Any], now: int
    ) -> str | None:
        """A new report version (server/reports.py calls this after keeping it)."""
        return await self.emit("report.ready", meta, {"report": report}, now)

    async def emit(
        self, event: str, meta: dict[str, str], data: dict[str, Any], now: int
    ) -> str | None:
        """Queue ``event`` for the interview's organisation if its webhook wants it; the
        delivery's id, or None."""
        org = meta.get("org", "default")
        stored = await self.store.webhook(org)
        if not stored["url"] or event not in stored["events"].split(","):
            return None
        iv_id = meta["id"]
        base = self.settings.base_url
        version = int((data.get("report") or {}).get("version", 0))
        payload = {
            "type": event,
            "created_ms": now,
            "org": org,
            "interview_id": iv_id,
            "attempt": int(meta.get("attempt", 1)),
            "profile_id": meta.get("profile", ""),
            **data,
            "links": {
                "report": f"{base}/api/hr/interviews/{iv_id}/report?version={version}",
                "report_html": f"{base}/api/hr/interviews/{iv_id}/report.html?version={version}",
                "report_pdf": f"{base}/api/hr/interviews/{iv_id}/report.pdf?version={version}",
                "profile": f"{base}/api/hr/interviews/{iv_id}/profile",
            },
        }
        return await self.notifier.enqueue_webhook(iv_id, org, event, payload, now)


def body_of(payload: dict[str, Any]) -> str:
    """The delivered body: compact JSON, UTF-8 (Chinese as itself), keys in a fixed order."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
