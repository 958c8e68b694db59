"""Retention and erasure: interviews that are over are erased after their organisation's
retention period (default ``HUB_RETENTION_DAYS``), and on request by HR. One path for both:

1. ``erase_interview.lua`` deletes the interview's wrapped data key, then its answers,
   reports, contact details, events and archived attempts, then the personal fields of its
   meta. Then what lies outside its keys goes (the candidate centre's sets, delivery
   states, the organisation's copies of its events) and the erasure is logged in the
   interview's and the organisation's logs; until then the meta says so (``erasing``), and
   a retry or the next purge finishes it. The logs keep the fact of the erasure, not the data.
2. Redis rewrites its files (AOF, and the RDB if it keeps one) from what it now holds, so
   the live files keep no copy of the wrapped data key or the sealed records
   (``Store.rewrite_persistence``; a purge erasing many rewrites once, at the end). The
   outcome is recorded on each erased interview (``files``); an erase request answers
   "pending" after ``HUB_ERASE_WAIT_S`` while the rewrite goes on, and a purge rewrites
   again for any whose rewrite failed or was left pending.
3. A purge destroys each month's KEK (server/keys.py) once that month is over and no
   interview made in it is left: from then on no copy of its interviews, in any backup,
   opens with any key the hub holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from protocol import interview as sm
from protocol.interview import State
from protocol.reasons import Reason
from server.candidates import OVER, Caller, CandidateService
from server.crypto import epoch_end_ms
from server.settings import Settings
from server.store import ERASING, STORE_AWAY, Store, log_scope, snapshot_from_hash

log = logging.getLogger("interview_hub.retention")

DAY_MS = 86_400_000
SYSTEM = Caller(ip="", device="", actor="retention", role="system")
# a month's KEK outlives the month by this much: a hub whose clock is a little behind may
# still be wrapping that month's new data keys
KEK_GRACE_MS = DAY_MS
FILES_DONE = ("rewritten", "not_persisted")
# the rewrites still running after their erasure was answered
_rewrites: set[asyncio.Task[str]] = set()
# how long one process may take to finish an erasure before another may try (the steps
# after the script: the organisation's event stream, the two log entries)
FINISH_CLAIM_MS = 120_000
REDIS_AWAY = STORE_AWAY


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure did: a refusal reason, or when it was erased and what became of
    Redis' files ("rewritten", "not_persisted", "pending": still running or given up after
    HUB_REWRITE_TIMEOUT_S, "failed: …")."""

    refusal: str | None
    erased_ms: int = 0
    files: str = ""


def erasable(meta: dict[str, str], now: int) -> bool:
    """Over, and not waiting for a re-entry that may still come."""
    snap = sm.settle(snapshot_from_hash(meta), now).snapshot
    if snap.state not in OVER:
        return False
    return not (snap.state is State.EXITED and snap.may_reenter and snap.reentry_until_ms > now)


async def erase(
    service: CandidateService,
    iv_id: str,
    caller: Caller,
    why: str,
    *,
    rewrite: bool = True,
    wait_s: float | None = None,
) -> Erased:
    """Erase one interview, then (``rewrite``) have Redis rewrite its files without it,
    answering "pending" after ``wait_s`` (None: once it is done; ``rewrite_files``).
    Erasing again what is erased finishes what an earlier try left undone (its log entry
    included), then rewrites the files again (a retry after "failed")."""
    store = service.store
    for _ in range(5):
        meta = await store.meta(iv_id)
        if not meta:
            return Erased(Reason.NOT_FOUND)
        if meta.get("erased_ms"):
            erased_ms = int(meta["erased_ms"])
            if meta.get(ERASING):
                await finish_erasure(service, iv_id)
            break
        now = service.clock()
        if not erasable(meta, now):
            await service.log(iv_id, caller, "erase", Reason.ERASE_NOT_ALLOWED, org=meta.get("org"))
            return Erased(Reason.ERASE_NOT_ALLOWED)
        entry = store.seal_personal(
            iv_id, "", caller.entry("erase", "ok", {"why": why})
        )  # "": nothing personal goes into it (no key is left to seal it with)
        if await store.erase(iv_id, meta, now, entry):
            log.warning("erased interview %s (%s, by %s)", iv_id, why, caller.actor)
            await finish_erasure(service, iv_id)
            erased_ms = now
            break
    else:
        raise RuntimeError(f"erasing {iv_id}: it kept changing")
    files = await rewrite_files(service, [iv_id], wait_s=wait_s) if rewrite else ""
    return Erased(None, erased_ms, files)


async def finish_erasure(service: CandidateService, iv_id: str) -> bool:
    """The steps after the erasure's script, each harmless to repeat: forget it outside its
    own keys, then write its log entry to the interview's and the organisation's logs
    (unless a try cut short wrote it already), then drop what the script left in the meta's
    ERASING. One process at a time: two would both find no entry and both write one.
    False when another process is finishing it now."""
    store = service.store
    token = await store.claim(f"erasing:{iv_id}", FINISH_CLAIM_MS)
    if token is None:
        return False
    try:
        meta = await store.meta(iv_id)
        if not meta.get(ERASING):
            return True  # finished meanwhile
        left = json.loads(meta[ERASING])
        await store.forget_erased(iv_id, left)
        entry, org, erased_ms = left["entry"], left["org"], int(meta["erased_ms"])
        if not await store.erasure_logged(log_scope(iv_id), iv_id, erased_ms):
            await store.log(iv_id, entry, service.clock())
        if not await store.erasure_logged(log_scope(org=org), iv_id, erased_ms):
            await store.log_org(org, {**entry, "interview_id": iv_id}, service.clock())
        await store.erasure_finished(iv_id)
        return True
    finally:
        await store.release(f"erasing:{iv_id}", token)


async def rewrite_files(
    service: CandidateService, erased: list[str], *, wait_s: float | None = None
) -> str:
    """Have Redis rewrite its files without what was erased, and record on each erased
    interview how that went (its meta's ``files``: "pending" meanwhile). ``wait_s``: answer
    "pending" after that long and let the rewrite finish in the background (None: wait
    for it). A failure is logged, not raised: the erasure itself stands."""
    await service.store.set_files_state(erased, "pending", service.clock())
    task = asyncio.create_task(_rewrite_and_record(service, erased))
    _rewrites.add(task)  # referenced until done: the event loop keeps only weak ones
    task.add_done_callback(_rewrites.discard)
    try:
        return await asyncio.wait_for(asyncio.shield(task), wait_s)
    except TimeoutError:
        return "pending"


async def _rewrite_and_record(service: CandidateService, erased: list[str]) -> str:
    files = await service.store.rewrite_persistence(service.settings.rewrite_timeout_s)
    if files not in FILES_DONE:
        log.warning(
            "after an erasure, Redis' files still hold the erased data until they are "
            "rewritten: %s (erase again, or run BGREWRITEAOF and BGSAVE)",
            files,
        )
    try:
        await service.store.set_files_state(erased, files, service.clock())
    except Exception:  # they stay "pending": the next purge rewrites again
        log.exception("recording how Redis' files were rewritten failed (%s)", files)
    return files


def files_left_behind(meta: dict[str, str], now: int, settings: Settings) -> bool:
    """An erased interview whose files' rewrite failed, or has been "pending" for longer
    than any rewrite waits (the hub waiting for it stopped): the purge rewrites again."""
    state = meta.get("files", "")
    if state.startswith("failed"):
        return True
    started = int(meta.get("files_ms") or 0)
    return state == "pending" and started + settings.rewrite_timeout_s * 1000 < now


async def destroy_spent_keks(store: Store, now: int, *, dry_run: bool = False) -> list[str]:
    """Destroy the KEK of every month that is over (with KEK_GRACE_MS to spare) and has no
    interview left wrapped under it, by its set and by a scan of the metas; returns those
    months (with ``dry_run``: would)."""
    keks = store.keks
    if keks is None:
        return []
    destroyed = []
    for epoch in keks.epochs():
        if epoch_end_ms(epoch) + KEK_GRACE_MS > now:
            continue
        await store.prune_epoch(epoch)
        if dry_run:
            if not await store.epoch_in_use(epoch) and not await store.wrapped_under(epoch):
                destroyed.append(epoch)
        elif await store.retire_epoch(epoch, now):
            # the set says none is left; the metas themselves must agree (marked destroyed
            # first, so no new data key goes under it while they are read)
            holders = await store.wrapped_under(epoch)
            if holders:
                await store.keep_epoch(epoch, holders)
                log.warning(
                    "the KEK of %s is kept: %d interviews its set did not list still have a "
                    "data key wrapped under it (%s); the set is repaired",
                    epoch,
                    len(holders),
                    " ".join(holders[:10]),
                )
                continue
            keks.destroy(epoch)
            log.warning("destroyed the KEK of %s: nothing made that month is left", epoch)
            destroyed.append(epoch)
    return destroyed


async def purge(
    service: CandidateService, settings: Settings, *, dry_run: bool = False
) -> dict[str, Any]:
    """Erase every interview whose retention ran out, and finish every erasure that was cut
    short after its script (a hub stopped mid-way); with ``dry_run`` only list them."""
    store = service.store
    now = service.clock()
    days_of: dict[str, int] = {}
    due: list[str] = []
    unfinished: list[str] = []
    left_behind: list[str] = []  # erased, but Redis' files were not rewritten since
    kept = no_end = 0
    for iv_id in await store.interview_ids():
        meta = await store.meta(iv_id)
        if meta.get("erased_ms"):
            if meta.get(ERASING):
                unfinished.append(iv_id)
            elif files_left_behind(meta, now, settings):
                left_behind.append(iv_id)
            continue
        if not meta or not erasable(meta, now):
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
    erased: list[str] = []
    finished: list[str] = []
    files: str | None = None
    if not dry_run:
        # one interview that fails (cut short after its script: the next purge finishes
        # it) does not stop the others; Redis away ends the round (run_purger retries)
        for iv_id in unfinished:
            try:
                if await finish_erasure(service, iv_id):
                    finished.append(iv_id)
            except REDIS_AWAY:
                raise
            except Exception:
                log.exception(
                    "finishing the erasure of %s failed; the next purge tries again", iv_id
                )
        for iv_id in due:
            try:
                if (
                    await erase(service, iv_id, SYSTEM, "retention", rewrite=False)
                ).refusal is None:
                    erased.append(iv_id)
            except REDIS_AWAY:
                raise
            except Exception:
                log.exception("erasing %s failed; the next purge tries again", iv_id)
        if erased or finished or left_behind:
            files = await rewrite_files(service, erased + finished + left_behind)
    keks = await destroy_spent_keks(store, service.clock(), dry_run=dry_run)
    return {
        "due": due,
        "erased": erased,
        "unfinished": unfinished,
        "finished": finished,
        "files_retried": left_behind,
        "kept": kept,
        "no_end_time": no_end,
        "files": files,
        "keks_destroyed": keks,
    }


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


__all__ = ["Erased", "destroy_spent_keks", "erasable", "erase", "purge", "run_purger"]
