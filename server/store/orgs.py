"""An organisation's settings: retention, how reports present it, its ATS webhook."""

from __future__ import annotations

import json
from typing import Any

from server.store.base import StoreBase
from server.store.keys import (
    notify_status,
    org_settings,
    org_webhook_deliveries,
)
from server.store.replies import (
    as_fields,
    text_value,
    texts,
)

ORG_PROFILE_FIELDS = (
    "display_name",
    "time_zone",
    "hr_contact_name",
    "hr_contact_phone",
    "hr_contact_email",
)


def hr_contact_of(profile: dict[str, str]) -> dict[str, str]:
    """The HR contact in an organisation profile as ``org_profile`` reads it."""
    return {k: profile[f"hr_contact_{k}"] for k in ("name", "phone", "email")}


class OrgSettings(StoreBase):
    """An organisation's settings: retention, how reports present it, its ATS webhook."""

    async def retention_days(self, org: str) -> int | None:
        """The organisation's retention in days (None: the hub's default)."""
        value = await self.redis.hget(org_settings(org), "retention_days")
        return int(value) if value else None

    async def set_retention_days(self, org: str, days: int) -> None:
        await self.redis.hset(org_settings(org), "retention_days", str(days))

    async def org_profile(self, org: str) -> dict[str, str]:
        """How reports present the organisation (display name, time zone) and whom its
        candidates contact (HR contact name, phone, e-mail); "" unset."""
        values = await self.redis.hmget(org_settings(org), list(ORG_PROFILE_FIELDS))
        return {f: text_value(v) or "" for f, v in zip(ORG_PROFILE_FIELDS, values, strict=True)}

    async def org_hr_contact(self, org: str) -> dict[str, str]:
        """Whom the organisation's candidates contact: name, phone, email ("" unset)."""
        return hr_contact_of(await self.org_profile(org))

    async def org_report_auto(self, org: str) -> bool:
        """Whether the organisation's new interviews make their report by themselves (on
        unless set off) when their spec does not say."""
        return await self.redis.hget(org_settings(org), "report_auto") != "0"

    async def set_org_profile(self, org: str, profile: dict[str, str]) -> None:
        await self.redis.hset(org_settings(org), mapping=as_fields(profile))

    async def webhook(self, org: str) -> dict[str, str]:
        """The organisation's ATS webhook: url, events (comma-separated), generation of
        its signing secret, when that was made; "" unset (server/webhooks.py)."""
        fields = ["webhook_url", "webhook_events", "webhook_gen", "webhook_secret_ms"]
        values = await self.redis.hmget(org_settings(org), fields)
        return {
            f.removeprefix("webhook_"): text_value(v) or ""
            for f, v in zip(fields, values, strict=True)
        }

    async def set_webhook(self, org: str, changes: dict[str, str]) -> None:
        """Set the webhook's fields (keys as ``webhook`` returns them); "" url removes it."""
        mapping = {f"webhook_{k}": v for k, v in changes.items()}
        await self.redis.hset(org_settings(org), mapping=as_fields(mapping))

    async def next_webhook_generation(self, org: str) -> int:
        """A new signing secret's generation (the old secret stops signing at once)."""
        return int(await self.redis.hincrby(org_settings(org), "webhook_gen", 1))

    async def note_webhook_delivery(self, org: str, msg_id: str, keep: int = 100) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lpush(org_webhook_deliveries(org), msg_id)
            pipe.ltrim(org_webhook_deliveries(org), 0, keep - 1)
            await pipe.execute()

    async def webhook_deliveries(self, org: str) -> list[dict[str, Any]]:
        """The newest deliveries' states, newest first (an erased interview's are gone)."""
        ids = texts(await self.redis.lrange(org_webhook_deliveries(org), 0, -1))
        raw = await self.redis.mget([notify_status(i) for i in ids]) if ids else []
        return [json.loads(r) for r in raw if r]
