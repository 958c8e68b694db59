"""Makes timeouts real: link expiry (before a start, or of an interrupted interview), the
re-entry window; and writes the summaries of refused identity checks left out of the logs
during a lock-out.

The state machine already treats a timed-out interview as what it has become (settle()
runs on every read); the sweeper writes it down, so listings, monitors and the log show
the change when it happens, not when someone next looks. Any number of hubs may sweep:
the compare-and-set makes doing it twice harmless.
"""

from __future__ import annotations

import asyncio
import logging

from protocol.interview import next_deadline
from server.audit import SYSTEM
from server.candidates import CandidateService, Refusal
from server.store import StoreError

log = logging.getLogger("interview_hub.sweeper")


async def sweep_once(service: CandidateService) -> int:
    """Settle every interview whose next deadline has passed; return how many changed."""
    changed = 0
    for iv_id in await service.store.due(service.clock()):
        try:
            decision = await service.settle(iv_id)
        except Refusal:  # the interview is gone
            await service.store.schedule(iv_id, 0)
            continue
        if decision.changed:
            changed += 1
        else:
            # nothing due after all (already settled elsewhere): keep the timer honest
            await service.store.schedule(iv_id, next_deadline(decision.snapshot))
    return changed


async def release_dead_hubs(service: CandidateService, own_hub: str = "") -> int:
    """Sockets of a hub that died (no lease) are lost connections: record the disconnects,
    so the interviews show as interrupted, not connected for ever.

    A hub never releases its own sockets: its lease can only have lapsed because Redis was
    away or the process was paused, and its sockets are alive (it finds out itself which
    ones another hub released meanwhile, server/hub.py)."""
    released = 0
    for hub_id in await service.store.dead_hubs():
        if hub_id == own_hub:
            continue
        came_back = False
        for iv_id, session in await service.store.hub_sockets(hub_id):
            if not await service.store.hub_is_dead(hub_id):
                came_back = True  # it renewed its lease meanwhile: what is left is its own
                break
            caller = SYSTEM
            try:
                # a no-op when the session no longer holds it (resumed elsewhere since)
                decision = await service.disconnect(iv_id, session, caller)
            except Refusal:
                pass  # the interview is gone
            else:
                released += decision.changed
            await service.store.hub_socket_released(hub_id, iv_id, session)
        if came_back or not await service.store.forget_hub(hub_id):
            log.warning("hub %s came back while its sockets were released", hub_id)
        log.warning("hub %s lost its lease; released %d of its sockets", hub_id, released)
    return released


async def run_sweeper(service: CandidateService, interval_s: float, own_hub: str = "") -> None:
    """Sweep every ``interval_s``. Redis being away is one line in the log (and one when it
    is back), not a traceback a round; any other failure is the supervisor's to log."""
    failing = False
    while True:
        try:
            await release_dead_hubs(service, own_hub)
            await sweep_once(service)
            await service.sum_up_refusals()
            if failing:
                log.warning("sweeping works again")
            failing = False
        except StoreError as exc:
            if not failing:
                log.warning("sweep failed (%s); trying again every %.1f s", exc, interval_s)
            failing = True
        await asyncio.sleep(interval_s)
