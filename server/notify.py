"""Notifications to candidates: a durable outbox in Redis, a worker, and providers.

The same outbox carries the organisations' signed ATS webhooks (channel "ats",
server/webhooks.py), with their own number of attempts and back-off.

Messages (invitation, exit reminder with the re-entry deadline, ended, reset, second
entry) are rendered from templates in zh-CN and en and put on the stream
``notify:outbox``. They read as the organisation's: its local time with the zone named,
and on SMS its ``【name】`` signature (Chinese carriers require one). Every hub runs a
worker in the consumer group ``senders``: a message is handed to one worker, sent by its
channel's provider, marked done, and acknowledged. A failure is retried with exponential
back-off up to ``notify_max_attempts``; its state (queued, retrying, sent, failed, with the
last error) is readable through the HR API.

Exactly once: a message is marked done (``notify:done:<id>``) after its provider
accepted it, and a worker never sends a message that is marked done, so a redelivery
(a worker that died, a claim after a timeout) does not send it again. If a worker dies
between the provider's acceptance and the mark, the provider sees the same message id
again (the webhook's Idempotency-Key, the email's Message-ID) and can drop it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from protocol.interview import Decision
from server.crypto import RecordCipher
from server.identity import mask
from server.report_view import zone_of
from server.settings import Settings
from server.store import UNREADABLE, Store, StoreError

if TYPE_CHECKING:
    from jinja2 import Environment

log = logging.getLogger("interview_hub.notify")


@functools.cache
def _templates() -> Environment:
    """Made on first use: a hub that sends nothing does not load jinja2 at start."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates" / "notify"),
        undefined=StrictUndefined,
        autoescape=False,  # plain text for SMS and email bodies
    )


def render(kind: str, lang: str, variables: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of a notification in ``lang`` (zh-CN or en)."""
    text = _templates().get_template(f"{kind}.{lang}.txt").render(**variables)
    subject, _, body = text.partition("\n")
    return subject.strip(), body.strip()


# a zone a reader knows by another name than its IANA one
ZONE_NAMES: dict[str, dict[str, str]] = {"zh-CN": {"Asia/Shanghai": "北京时间"}, "en": {}}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def utc_offset(moment: datetime) -> str:
    """``UTC+8``, ``UTC-4``, ``UTC+5:30``: the offset a person reads, at that moment (DST)."""
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset else 0
    if not minutes:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'+' if minutes > 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "")


def fmt_time(ms: int, lang: str, zone: ZoneInfo) -> str:
    """A moment in the organisation's time zone, the zone named: a candidate abroad or a
    phone set to another zone still reads the right hour."""
    moment = datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone)
    name = ZONE_NAMES.get(lang, {}).get(zone.key, zone.key)
    if lang == "zh-CN":
        day = f"{moment.year}年{moment.month}月{moment.day}日"
        return f"{day} {moment:%H:%M}（{name}，{utc_offset(moment)}）"
    day = f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}"
    return f"{day}, {moment:%H:%M} ({name}, {utc_offset(moment)})"


def sms_signature(company: str) -> str:
    """The 【company】 that Chinese carriers require at the start of every SMS."""
    return "【" + re.sub(r"[【】\s]+", " ", company).strip() + "】"


@dataclass(frozen=True, slots=True)
class Outgoing:
    msg_id: str
    channel: str  # "sms" | "email"
    to: str
    subject: str
    body: str


# one plain address: an ASCII local part and a dotted domain name; no display name, list,
# comment, quotes, spaces or line breaks, so a message goes to this one recipient only
EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
EMAIL_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})"
)
MAX_EMAIL = 254  # RFC 5321's path limit, less the brackets


def is_one_address(address: str) -> bool:
    """Whether ``address`` is exactly one plain e-mail address (``name@example.com``)."""
    local, at, domain = address.rpartition("@")
    return (
        bool(at)
        and len(address) <= MAX_EMAIL
        and len(local) <= 64
        and EMAIL_LOCAL.fullmatch(local) is not None
        and EMAIL_DOMAIN.fullmatch(domain) is not None
    )


def mask_email(address: str) -> str:
    user, _, domain = address.partition("@")
    return f"{user[:1]}***@{domain}"


_URL = re.compile(r"https?://\S+")


def describe(exc: BaseException) -> str:
    """An error for HR to read: no URLs (a webhook's may carry a key)."""
    return _URL.sub("<url>", f"{type(exc).__name__}: {exc}")[:300]


class Undeliverable(Exception):
    """A delivery that no retry can help (its webhook was removed, its URL is refused):
    failed at once, with this reason."""


class Provider(Protocol):
    name: str

    async def send(self, message: Outgoing) -> None: ...


class LogProvider:
    """Writes that a message was sent to the server log (never its body: it holds links)."""

    name = "log"

    async def send(self, message: Outgoing) -> None:
        log.warning(
            "notification %s via %s to %s: %s",
            message.msg_id,
            message.channel,
            mask(message.to) if message.channel == "sms" else mask_email(message.to),
            message.subject,
        )


class SMTPProvider:
    name = "smtp"

    def __init__(self, host: str, port: int, sender: str) -> None:
        self.host, self.port, self.sender = host, port, sender

    async def send(self, message: Outgoing) -> None:
        import aiosmtplib

        if not is_one_address(message.to):  # never a list: the To is exactly one recipient
            raise ValueError("the recipient is not one plain e-mail address")

        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Message-ID"] = f"<{message.msg_id}@interview-hub>"
        email.set_content(message.body)
        await aiosmtplib.send(email, hostname=self.host, port=self.port, timeout=10)


class WebhookProvider:
    """POSTs {id, to, text} as JSON to an SMS gateway; a 2xx answer means accepted."""

    name = "webhook"

    def __init__(self, url: str) -> None:
        self.url = url

    async def send(self, message: Outgoing) -> None:
        import httpx  # loaded on first use: a hub that never posts starts faster

        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(
                self.url,
                json={
                    "id": message.msg_id,
                    "to": message.to,
                    "text": f"{message.subject}\n{message.body}",
                },
                headers={"Idempotency-Key": message.msg_id},
            )
            r.raise_for_status()


def providers_from(settings: Settings) -> dict[str, Provider]:
    sms: Provider = LogProvider()
    email: Provider = LogProvider()
    if settings.notify_sms == "webhook":
        sms = WebhookProvider(settings.sms_webhook_url)
    if settings.notify_email == "smtp":
        email = SMTPProvider(settings.smtp_host, settings.smtp_port, settings.smtp_from)
    return {"sms": sms, "email": email}


class Notifier:
    def __init__(self, store: Store, settings: Settings, providers: dict[str, Provider]) -> None:
        self.store = store
        self.settings = settings
        self.providers = providers
        self.consumer = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"

    # --- enqueueing -----------------------------------------------------------------------

    async def enqueue(self, iv_id: str, kind: str, extra: dict[str, Any], now: int) -> list[str]:
        """Render ``kind`` for the interview's candidate on every channel they have."""
        meta = await self.store.meta(iv_id)
        if not meta or meta.get("notify", "1") != "1":
            return []
        contact = await self.store.contact(iv_id)
        lang = contact.get("lang") or "zh-CN"
        addresses, unusable = self._addresses(iv_id, meta, contact)
        # the organisation as its reports show it: its name and its time zone
        org = meta.get("org", "default")
        profile = await self.store.org_profile(org)
        company = profile["display_name"] or org
        variables = {
            "candidate": self.store.candidate_name(iv_id, meta),
            "position": meta.get("position", ""),
            "company": company,
            **extra,
        }
        if "deadline_ms" in variables:
            zone = zone_of(profile["time_zone"])
            variables["deadline"] = fmt_time(int(variables.pop("deadline_ms")), lang, zone)
        subject, body = render(kind, lang, variables)
        subjects = {"sms": sms_signature(company) + subject, "email": subject}
        ids = []
        for channel, why in unusable.items():
            # not sent, and HR sees why among the interview's notifications
            ids.append(await self._record_failed(iv_id, kind, channel, why, now))
        for channel, address in addresses.items():
            cipher = self.store.cipher_for(iv_id, meta.get("dek", ""))
            msg_id = uuid.uuid4().hex
            record = {
                "id": msg_id,
                "kind": kind,
                "channel": channel,
                "to": address,
                "subject": subjects[channel],
                "body": body,
                "interview_id": iv_id,
            }
            status = {
                "id": msg_id,
                "kind": kind,
                "channel": channel,
                "state": "queued",
                "attempts": 0,
                "last_error": "",
                "queued_ms": now,
                "sent_ms": 0,
            }
            await self.store.queue_notification(iv_id, status, seal_record(cipher, record))
            ids.append(msg_id)
        return ids

    def _addresses(
        self, iv_id: str, meta: dict[str, str], contact: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The channels to send on, with their addresses opened (sealed at rest), and the
        channels that cannot be used, with why: a record that does not open, or an e-mail
        field that is not one plain address (checked again here, just before sending)."""
        usable: dict[str, str] = {}
        unusable: dict[str, str] = {}
        for channel, field in (("sms", "phone"), ("email", "email")):
            if not contact.get(field):
                continue
            try:
                cipher = self.store.cipher_for(iv_id, meta.get("dek", ""))
                address = cipher.open_text(f"contact|{field}", contact[field])
            except UNREADABLE as exc:
                self.store.report_unreadable(iv_id, f"contact|{field}", exc)
                unusable[channel] = "the stored address does not open (unreadable)"
                continue
            if channel == "email" and not is_one_address(address):
                unusable[channel] = "the stored e-mail is not one plain address"
                continue
            usable[channel] = address
        return usable, unusable

    async def enqueue_webhook(
        self, iv_id: str, org: str, event: str, payload: dict[str, Any], now: int
    ) -> str:
        """Queue a signed webhook delivery to the organisation's ATS (server/webhooks.py):
        channel "ats", sealed at rest like a notification (its body holds the report)."""
        meta = await self.store.meta(iv_id)
        cipher = self.store.cipher_for(iv_id, meta.get("dek", ""))
        msg_id = uuid.uuid4().hex
        body = json.dumps({"id": msg_id, **payload}, ensure_ascii=False, separators=(",", ":"))
        record = {
            "id": msg_id,
            "kind": event,
            "channel": "ats",
            "to": org,
            "subject": event,
            "body": body,
            "interview_id": iv_id,
        }
        status = {
            "id": msg_id,
            "kind": event,
            "channel": "ats",
            "state": "queued",
            "attempts": 0,
            "last_error": "",
            "queued_ms": now,
            "sent_ms": 0,
            "interview_id": iv_id,
        }
        await self.store.queue_notification(iv_id, status, seal_record(cipher, record))
        await self.store.note_webhook_delivery(org, msg_id)
        return msg_id

    def _retries(self, channel: str) -> tuple[int, float]:
        """(attempts, first back-off in s): an ATS may be down for longer than a gateway."""
        s = self.settings
        if channel == "ats":
            return s.webhook_max_attempts, s.webhook_retry_base_s
        return s.notify_max_attempts, s.notify_retry_base_s

    async def _record_failed(self, iv_id: str, kind: str, channel: str, why: str, now: int) -> str:
        msg_id = uuid.uuid4().hex
        status = {
            "id": msg_id,
            "kind": kind,
            "channel": channel,
            "state": "failed",
            "attempts": 0,
            "last_error": why,
            "queued_ms": now,
            "sent_ms": 0,
        }
        await self.store.queue_notification(iv_id, status, None)  # failed: nothing to send
        return msg_id

    async def on_change(self, iv_id: str, meta: dict[str, str], decision: Decision) -> None:
        """After a change of state: the exit reminder, the end, a second entry."""
        now = int(datetime.now(UTC).timestamp() * 1000)
        snap = decision.snapshot
        for fact in decision.facts:
            kind = fact["kind"]
            if kind == "exited":
                p = snap.progress
                await self.enqueue(
                    iv_id,
                    "exit",
                    {
                        "percent": p.percent,
                        "answered": p.answered,
                        "total": p.total,
                        "reentry": bool(fact.get("reentry_until_ms")),
                        "deadline_ms": fact.get("reentry_until_ms") or now,
                    },
                    now,
                )
            elif kind == "ended":
                await self.enqueue(iv_id, "ended", {"note": fact.get("note", "")}, now)
            elif kind == "reentry_granted" and fact.get("until_ms"):
                await self.enqueue(iv_id, "reentry", {"deadline_ms": fact["until_ms"]}, now)

    async def statuses(self, iv_id: str) -> list[dict[str, Any]]:
        return await self.store.notification_statuses(iv_id)

    # --- the worker -----------------------------------------------------------------------

    async def run(self) -> None:
        await self.store.outbox_group()
        failing = False
        while True:
            try:
                await self._release_retries()
                await self._claim_stale()
                for entry_id, packed in await self.store.outbox_read(self.consumer, 20, 1000):
                    await self._take(entry_id, packed)
                if failing:
                    log.warning("notification worker works again")
                failing = False
            except asyncio.CancelledError:
                raise
            except StoreError as exc:
                if not failing:  # one line an outage, not a traceback a second
                    log.warning("notification worker: redis unavailable (%s); retrying", exc)
                failing = True
                await asyncio.sleep(1)
            except Exception:
                log.exception("notification worker failed; going on in 1 s")
                await asyncio.sleep(1)

    async def _claim_stale(self) -> None:
        """Take over messages a dead worker had claimed but not acknowledged."""
        for entry_id, packed in await self.store.outbox_claim_stale(self.consumer, 60_000, 20):
            await self._take(entry_id, packed)

    async def _release_retries(self) -> None:
        await self.store.outbox_release_due(int(datetime.now(UTC).timestamp() * 1000))

    async def _done_with(self, entry_id: str) -> None:
        await self.store.outbox_done(entry_id)

    async def _take(self, entry_id: str, packed: str) -> None:
        try:
            record = await self._open(packed)
        except UNREADABLE as exc:  # its interview was erased (key shredded), or it is damaged
            log.warning("notification %s dropped: %s", entry_id, exc)
            await self._done_with(entry_id)
            return
        await self._deliver(entry_id, record)

    async def _open(self, packed: str) -> dict[str, Any]:
        outer = json.loads(packed)
        cipher = await self.store.cipher(outer["iv"])
        record: dict[str, Any] = json.loads(cipher.open_text(f"notify|{outer['id']}", outer["m"]))
        return record

    async def _deliver(self, entry_id: str, record: dict[str, Any]) -> None:
        msg_id = record["id"]
        status = await self.store.notification_status(msg_id)
        if await self.store.notification_sent(msg_id):
            await self._done_with(entry_id)  # sent before: never twice
            return
        provider = self.providers[record["channel"]]
        status["attempts"] = int(status.get("attempts", 0)) + 1
        try:
            await provider.send(
                Outgoing(msg_id, record["channel"], record["to"], record["subject"], record["body"])
            )
        except Exception as exc:
            status["last_error"] = describe(exc)
            attempts, base_s = self._retries(record["channel"])
            if status["attempts"] >= attempts or isinstance(exc, Undeliverable):
                status["state"] = "failed"
                log.warning("notification %s failed for good: %s", msg_id, status["last_error"])
            else:
                status["state"] = "retrying"
                delay = base_s * 2 ** (status["attempts"] - 1)
                due = int(datetime.now(UTC).timestamp() * 1000 + delay * 1000)
                cipher = await self.store.cipher(record["interview_id"])
                await self.store.outbox_retry_later(seal_record(cipher, record), due)
            await self.store.set_notification_status(msg_id, status)
            await self._done_with(entry_id)
            return
        status.update(
            state="sent",
            provider=provider.name,
            sent_ms=int(datetime.now(UTC).timestamp() * 1000),
            last_error="",
        )
        status.setdefault("id", msg_id)
        await self.store.outbox_sent(entry_id, status)


def seal_record(cipher: RecordCipher, record: dict[str, Any]) -> str:
    """A queued notification holds the address, the name and the link: sealed at rest."""
    sealed = cipher.seal_text(f"notify|{record['id']}", json.dumps(record, ensure_ascii=False))
    return json.dumps({"iv": record["interview_id"], "id": record["id"], "m": sealed})
