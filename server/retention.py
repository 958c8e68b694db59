"""Retention and erasure: interviews that are over are erased after their organisation's
retention period (default ``HUB_RETENTION_DAYS``), and on request by HR.

Erasing deletes the interview's wrapped data key first (crypto-shredding: every sealed
record becomes unreadable, copies in backups included), then its answers, reports, contact
details, events and archived attempts, then the personal fields of its meta
(``erase_interview.lua``). The operation logs keep the fact of the erasure, not the data.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from protocol import interview as sm
from protocol.interview import State
from protocol.reasons import Reason
from server.candidates import OVER, Caller, CandidateService
from server.settings import Settings
from server.store import snapshot_from_hash

log = logging.getLogger("interview_hub.retention")

DAY_MS = 86_400_000
SYSTEM = Caller(ip="", device="", actor="retention", role="system")


def erasable(meta: dict[str, str], now: int) -> bool:
    """Over, and not waiting for a re-entry that may still come."""
    snap = sm.settle(snapshot_from_hash(meta), now).snapshot
    if snap.state not in OVER:
        return False
    return not (snap.state is State.EXITED and snap.may_reenter and snap.reentry_until_ms > now)


async def erase(
    service: CandidateService, iv_id: str, caller: Caller, why: str
) -> tuple[str | None, int]:
    """Erase one interview; returns (refusal reason or None, erased_ms)."""
    store = service.store
    for _ in range(5):
        meta = await store.meta(iv_id)
        if not meta:
            return Reason.NOT_FOUND, 0
        if meta.get("erased_ms"):
            return None, int(meta["erased_ms"])  # already erased: nothing left to do
        now = service.clock()
        if not erasable(meta, now):
            await service.log(iv_id, caller, "erase", Reason.ERASE_NOT_ALLOWED, org=meta.get("org"))
            return Reason.ERASE_NOT_ALLOWED, 0
        if await store.erase(iv_id, meta, now):
            await service.log(iv_id, caller, "erase", "ok", {"why": why}, org=meta.get("org"))
            log.warning("erased interview %s (%s, by %s)", iv_id, why, caller.actor)
            return None, now
    raise RuntimeError(f"erasing {iv_id}: it kept changing")


async def purge(
    service: CandidateService, settings: Settings, *, dry_run: bool = False
) -> dict[str, Any]:
    """Erase every interview whose retention ran out; with ``dry_run`` only list them."""
    store = service.store
    now = service.clock()
    days_of: dict[str, int] = {}
    due: list[str] = []
    kept = no_end = 0
    for iv_id in await store.interview_ids():
        meta = await store.meta(iv_id)
        if not meta or meta.get("erased_ms") or not erasable(meta, now):
            continue
        org = meta.get("org", "default")
        if org not in days_of:
            days_of[org] = await store.retention_days(org) or settings.retention_days
        over = int(meta.get("over_ms", 0))
        if not over:
            no_end += 1  # made before over_ms was recorded: its end time is unknown
        elif over + days_of[org] * DAY_MS <= now:
            due.append(iv_id)
        else:
            kept += 1
    erased = []
    if not dry_run:
        for iv_id in due:
            refusal, _ = await erase(service, iv_id, SYSTEM, "retention")
            if refusal is None:
                erased.append(iv_id)
    return {"due": due, "erased": erased, "kept": kept, "no_end_time": no_end}


async def run_purger(service: CandidateService, settings: Settings) -> None:
    """The scheduled job: purge every ``purge_interval_s`` (each hub; erasing is idempotent)."""
    if not settings.purge_interval_s:
        return
    while True:
        await asyncio.sleep(settings.purge_interval_s)
        try:
            result = await purge(service, settings)
            if result["erased"]:
                log.warning("retention: erased %d interviews", len(result["erased"]))
        except Exception:
            log.exception("retention purge failed; trying again next round")


__all__ = ["erasable", "erase", "purge", "run_purger"]
