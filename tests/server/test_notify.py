"""Notifications through real providers: a local SMTP server (aiosmtpd) and a local SMS webhook."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from datetime import datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

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
            # no display name set: the signature is the organisation's id
            assert invitation_sms["text"].startswith(f"【{org.name}】")
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
        "company": "C",
    }
    for kind in ("invitation", "exit", "ended", "reset", "reentry"):
        for lang in ("en", "zh-CN"):
            subject, body = render(kind, lang, values)
            assert subject and body and "P" in subject + body


# --- how the messages read --------------------------------------------------------------

# a CJK character or CJK punctuation (，。：“”（）【】...)
CJK = r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef\u201c\u201d]"
STRAY_SPACE = re.compile(rf"{CJK}[^\S\n]+{CJK}")  # a space, not a line break

# per kind, in each language, words that tell the candidate what happens next
NEXT_STEP = {
    "invitation": {"zh-CN": "验证后开始作答", "en": "verify with your ID-card or phone number"},
    "exit": {"zh-CN": "用原链接再进入一次", "en": "come back once with the same link"},
    "reentry": {"zh-CN": "从下一题继续", "en": "go on with the next question"},
    "ended": {"zh-CN": "与您联系后续安排", "en": "contact you about the next steps"},
    "reset": {"zh-CN": "从第一题重新作答", "en": "again from the first question"},
}
KINDS = list(NEXT_STEP)  # in the order the scenario sends them


def local_time(ms: int, zone: str, lang: str) -> str:
    """How a moment must read: the organisation's local time, its zone and UTC offset."""
    moment = datetime.fromtimestamp(ms / 1000, ZoneInfo(zone))
    offset = moment.utcoffset()
    assert offset is not None and offset.total_seconds() % 3600 == 0  # whole hours here
    utc = f"UTC{int(offset.total_seconds() // 3600):+d}"
    if lang == "zh-CN":
        name = "北京时间" if zone == "Asia/Shanghai" else zone
        return f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}（{name}，{utc}）"
    month = moment.strftime("%b")
    return f"{moment.day} {month} {moment.year}, {moment:%H:%M} ({zone}, {utc})"


async def test_every_message_reads_right_in_both_languages_and_zones(own_redis, tmp_path) -> None:
    """Invitation, exit, second entry, end and reset, in zh-CN and en, for an organisation in Asia/Shanghai and one in America/New_York: the SMS opens with 【company】, times are local with the zone named, no space inside Chinese text, and each says what happens next."""
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    gateway = Gateway(fail_first=0)
    hub = notifying_hub(own_redis, tmp_path, smtp.port, gateway.url)
    try:
        async with httpx.AsyncClient(base_url=hub.http) as http:
            cases = []
            for company, zone in (("星河科技", "Asia/Shanghai"), ("Northwind", "America/New_York")):
                org = await make_org(hub, own_redis.url)
                r = await http.put(
                    "/api/hr/org",
                    json={"display_name": company, "time_zone": zone},
                    headers=org.auth("admin"),
                )
                assert r.status_code == 200, r.text
                for lang in ("zh-CN", "en"):
                    cases.append((org, company, zone, lang, f"1390000{len(cases):04d}"))
            for org, company, zone, lang, phone in cases:
                sms, mails, deadlines = await _one_of_each(
                    http, hub, org, lang, phone, gateway, mailbox
                )
                for kind, text, mail in zip(KINDS, sms, mails, strict=True):
                    mail_subject = str(make_header(decode_header(mail["Subject"])))
                    mail_text = mail_subject + "\n" + mail.get_payload(decode=True).decode()
                    where = f"{kind} in {lang} for {zone}"
                    assert text.startswith(f"【{company}】"), where
                    assert text.count("【") == 1 and "【" not in mail_text, where
                    if deadlines[kind]:
                        when = local_time(deadlines[kind], zone, lang)
                        assert when in text and when in mail_text, (where, when, text)
                    else:
                        assert "UTC" not in text, where
                    assert NEXT_STEP[kind][lang] in text, where
                    if lang == "zh-CN":
                        assert not STRAY_SPACE.search(text), (where, text)
                        assert not STRAY_SPACE.search(mail_text), (where, mail_text)
                        assert "数据分析师岗位" in text and "张三您好" in text, where
    finally:
        hub.stop()
        smtp.stop()
        gateway.close()


async def _one_of_each(http, hub, org, lang, phone, gateway, mailbox):
    """One interview through invitation, exit, second entry, end and reset: its SMS texts
    and e-mails in that order, and each message's deadline as the hub holds it."""
    email = f"c{phone}@example.test"
    body = interview_body(2, second_entry=True)
    body["position"] = "数据分析师" if lang == "zh-CN" else "Analyst"
    name = "张三" if lang == "zh-CN" else "Jane Doe"
    body["candidate"] = {**body["candidate"], "name": name, "phone": phone}
    body["candidate"].update(email=email, lang=lang)
    created = (await http.post("/api/hr/interviews", json=body, headers=org.auth("admin"))).json()
    iv = created["interview_id"]
    url = f"/api/hr/interviews/{iv}"

    async def detail() -> dict:
        return (await http.get(url, headers=org.auth("admin"))).json()

    async def delivered(n: int) -> tuple[list[str], list]:
        async def check():
            texts = [m["text"] for m in gateway.accepted if m["to"] == phone]
            mails = [m for m in mailbox.messages if m["To"] == email]
            return (texts, mails) if len(texts) >= n and len(mails) >= n else None

        return await until(check)

    deadlines = {"invitation": (await detail())["link_expires_ms"]}
    await delivered(1)
    async with CandidateClient(hub.ws, created["token"], phone) as c:
        await c.join()
        await c.send_text("一半")
        await c.request_exit()
        await c.confirm_exit()
    await delivered(2)
    deadlines["exit"] = (await detail())["reentry_until_ms"]
    r = await http.post(
        url + "/reentry", json={"grant": True, "window_s": 7200}, headers=org.auth("admin")
    )
    assert r.status_code == 200, r.text
    await delivered(3)
    deadlines["reentry"] = (await detail())["reentry_until_ms"]
    r = await http.post(
        url + "/end", json={"confirm": True, "note": "岗位已招满"}, headers=org.auth("admin")
    )
    assert r.status_code == 200, r.text
    await delivered(4)
    deadlines["ended"] = 0  # the end names no time
    r = await http.post(url + "/reset", json={"confirm": True}, headers=org.auth("admin"))
    assert r.status_code == 200, r.text
    texts, mails = await delivered(5)
    deadlines["reset"] = (await detail())["link_expires_ms"]
    return texts, mails, deadlines


def test_times_read_in_the_zone_at_that_moment() -> None:
    """A notification's time is the organisation's local time with the zone named and its offset at that moment (summer time, half hours), never bare UTC."""
    from server.notify import fmt_time
    from server.report_view import zone_of

    winter = 1796104800000  # 2026-12-01 06:00 UTC
    summer = 1780034400000  # 2026-05-29 06:00 UTC
    assert (
        fmt_time(winter, "zh-CN", zone_of("Asia/Shanghai"))
        == "2026年12月1日 14:00（北京时间，UTC+8）"
    )
    assert (
        fmt_time(winter, "en", zone_of("Asia/Shanghai"))
        == "1 Dec 2026, 14:00 (Asia/Shanghai, UTC+8)"
    )
    assert (
        fmt_time(winter, "en", zone_of("America/New_York"))
        == "1 Dec 2026, 01:00 (America/New_York, UTC-5)"
    )
    assert (
        fmt_time(summer, "en", zone_of("America/New_York"))
        == "29 May 2026, 02:00 (America/New_York, UTC-4)"
    )
    assert (
        fmt_time(winter, "zh-CN", zone_of("Asia/Kolkata"))
        == "2026年12月1日 11:30（Asia/Kolkata，UTC+5:30）"
    )
    assert fmt_time(winter, "en", zone_of("")) == "1 Dec 2026, 14:00 (Asia/Shanghai, UTC+8)"
