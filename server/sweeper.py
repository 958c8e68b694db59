"""Makes timeouts real: link expiry, the resume grace running out, the re-entry window.

The state machine already treats a timed-out interview as what it has become (settle()
runs on every read); the sweeper writes it down, so listings, monitors and the log show
the change when it happens, not when someone next looks. Any number of hubs may sweep:
the compare-and-set makes doing it twice harmless.
"""

from __future__ import annotations

import asyncio
import logging

from protocol.interview import next_deadline
from server.candidates import Caller, CandidateService, Refusal

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


async def release_dead_hubs(service: CandidateService) -> int:
    """Sockets of a hub that died (no lease) are lost connections: record the disconnects,
    so the resume grace runs and the interviews do not look connected for ever."""
    released = 0
    for hub_id in await service.store.dead_hubs():
        for iv_id, session in await service.store.hub_sockets(hub_id):
            caller = Caller(actor="system", role="system")
            try:
                # a no-op when the session no longer holds it (resumed elsewhere since)
                decision = await service.disconnect(iv_id, session, caller)
            except Refusal:
                continue  # the interview is gone
            released += decision.changed
        await service.store.forget_hub(hub_id)
        log.warning("hub %s lost its lease; released %d of its sockets", hub_id, released)
    return released


async def run_sweeper(service: CandidateService, interval_s: float) -> None:
    while True:
        try:
            await release_dead_hubs(service)
            await sweep_once(service)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sweep failed; trying again in %.1f s", interval_s)
        await asyncio.sleep(interval_s)
