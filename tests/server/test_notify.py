"""Notifications through real providers: a local SMTP server (aiosmtpd) and a local SMS webhook."""

from __future__ import annotations

import asyncio
import json
import threading
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from aiosmtpd.controller import Controller

from client.candidate import CandidateClient
from server.store.embedded import EmbeddedRedis
from tests.conftest import PHONE, Hub, free_port, interview_body, make_org, start_hub


class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(make_header(decode_header(m["Subject"]))) for m in self.messages]


class Gateway:
    """An SMS gateway that refuses each message's first ``fail_first`` attempts with a 500."""

    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.attempts: dict[str, int] = {}
        self.accepted: list[dict] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                assert self.headers["Idempotency-Key"] == body["id"]
                n = gateway.attempts[body["id"]] = gateway.attempts.get(body["id"], 0) + 1
                ok = n > gateway.fail_first
                if ok:
                    gateway.accepted.append(body)
                self.send_response(200 if ok else 500)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def providers():
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    gateway = Gateway(fail_first=2)
    yield mailbox, smtp.port, gateway
    smtp.stop()
    gateway.close()


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of its own: every hub on a Redis shares its notification outbox."""
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    server.start()
    yield server
    server.stop()


def notifying_hub(redis_server, tmp_path, smtp_port: int, webhook: str) -> Hub:
    return start_hub(
        redis_server.url,
        tmp_path,
        HUB_NOTIFY_SMS="webhook",
        HUB_SMS_WEBHOOK_URL=webhook,
        HUB_NOTIFY_EMAIL="smtp",
        HUB_SMTP_PORT=str(smtp_port),
        HUB_NOTIFY_RETRY_BASE_S="0.1",
        HUB_NOTIFY_MAX_ATTEMPTS="3",
    )


async def until(check, timeout: float = 20.0):
    for _ in range(int(timeout * 10)):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_invitation_exit_and_end_are_delivered_once(own_redis, tmp_path, providers) -> None:
    """Invitation, exit reminder (with the re-entry deadline) and end go out by SMS and email, each once, retried on failure."""
    mailbox, smtp_port, gateway = providers
    hub = notifying_hub(own_redis, tmp_path, smtp_port, gateway.url)
    try:
        org = await make_org(hub, own_redis.url)
        body = interview_body(2, second_entry=True)
        body["candidate"] = {**body["candidate"], "email": "cand@example.test", "lang": "en"}
        async with httpx.AsyncClient(base_url=hub.http) as http:
            created = (
                await http.post("/api/hr/interviews", json=body, headers=org.auth("admin"))
            ).json()
            iv = created["interview_id"]
            await until(lambda: _done(gateway.accepted, mailbox.messages, 1))
            invitation_sms = gateway.accepted[0]
            assert invitation_sms["to"] == PHONE and created["link"] in invitation_sms["text"]
            assert mailbox.subjects() == ["Your interview for Analyst"]
            assert created["link"] in mailbox.messages[0].get_payload(decode=True).decode()
            async with CandidateClient(hub.ws, created["token"], PHONE) as c:
                await c.join()
                await c.send_text("half")
                await c.request_exit()
                await c.confirm_exit()
            await until(lambda: _done(gateway.accepted, mailbox.messages, 2))
            reminder = gateway.accepted[1]["text"]
            assert "0%" in reminder and "come back once" in reminder and "UTC" in reminder
            await http.post(
                f"/api/hr/interviews/{iv}/end",
                json={"confirm": True, "note": "Position filled"},
                headers=org.auth("admin"),
            )
            await until(lambda: _done(gateway.accepted, mailbox.messages, 3))
            assert "Position filled" in gateway.accepted[2]["text"]
            statuses = (
                await http.get(
                    f"/api/hr/interviews/{iv}/notifications", headers=org.auth("recruiter")
                )
            ).json()["notifications"]
            assert [(s["kind"], s["channel"], s["state"]) for s in statuses] == [
                ("invitation", "sms", "sent"),
                ("invitation", "email", "sent"),
                ("exit", "sms", "sent"),
                ("exit", "email", "sent"),
                ("ended", "sms", "sent"),
                ("ended", "email", "sent"),
            ]
            assert {s["attempts"] for s in statuses if s["channel"] == "sms"} == {
                3
            }  # two 500s, then accepted
            assert {s["attempts"] for s in statuses if s["channel"] == "email"} == {1}
        # each message was accepted exactly once by its provider
        assert len(gateway.accepted) == 3 and len({m["id"] for m in gateway.accepted}) == 3
        assert len(mailbox.messages) == 3
        assert "13800138000" not in hub.log()  # the log provider is not used; bodies never logged
    finally:
        hub.stop()


async def _done(accepted: list, mails: list, n: int) -> bool:
    return len(accepted) >= n and len(mails) >= n


async def test_failures_are_visible_after_the_last_attempt(own_redis, tmp_path) -> None:
    """A gateway that never accepts: the notification ends `failed` with its last error, after 3 attempts."""
    dead_port = free_port()  # nothing listens here
    hub = notifying_hub(own_redis, tmp_path, free_port(), f"http://127.0.0.1:{dead_port}/sms")
    try:
        org = await make_org(hub, own_redis.url)
        async with httpx.AsyncClient(base_url=hub.http) as http:
            created = (
                await http.post(
                    "/api/hr/interviews", json=interview_body(), headers=org.auth("admin")
                )
            ).json()

            async def failed():
                r = await http.get(
                    f"/api/hr/interviews/{created['interview_id']}/notifications",
                    headers=org.auth("admin"),
                )
                items = r.json()["notifications"]
                return items if items and items[0]["state"] == "failed" else None

            items = await until(failed)
            assert items[0]["attempts"] == 3 and "ConnectError" in items[0]["last_error"]
    finally:
        hub.stop()


def test_templates_exist_in_both_languages() -> None:
    """Every notification renders in zh-CN and en."""
    from server.notify import render

    values = {
        "candidate": "A",
        "position": "P",
        "link": "L",
        "deadline": "D",
        "percent": 50,
        "answered": 1,
        "total": 2,
        "reentry": True,
        "note": "N",
    }
    for kind in ("invitation", "exit", "ended", "reset", "reentry"):
        for lang in ("en", "zh-CN"):
            subject, body = render(kind, lang, values)
            assert subject and body and "P" in subject + body
