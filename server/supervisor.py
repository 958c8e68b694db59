"""Background tasks that must not die silently.

A hub is a handful of loops (the chunk writer, the control listener, the lease, the sweeper,
the notification sender, ...). If one of them dies, the hub goes on accepting sockets while
it quietly stops saving, hearing HR or keeping its lease. So each runs under the
supervisor: an exception is logged with its context (the traceback once, then one line a
restart), the loop is started again after a back-off, and ``down`` says which are not
running, for ``/healthz`` and ``/readyz``. A task may also report itself ``degraded`` (up,
but failing at its work, e.g. the writer while Redis is away) and ``recovered``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("interview_hub.supervisor")

BACKOFF_S = (0.1, 0.5, 1.0, 2.0, 5.0)  # between restarts; the last one repeats
STABLE_S = 30.0  # a task that ran this long before failing starts its back-off afresh
# how long stop() waits for the cancelled tasks (a stuck one is named and left behind)
STOP_WAIT_S = 25.0  # more than a Redis pool wait (20 s): a cleanup may need a connection


class Supervisor:
    def __init__(self, backoff_s: tuple[float, ...] = BACKOFF_S) -> None:
        self.backoff_s = backoff_s
        self.down: dict[str, str] = {}  # name -> why it is not running
        self.degraded: dict[str, str] = {}  # name -> what it is failing at
        self.restarts: dict[str, int] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run()`` as the task ``name`` until stopped, restarting it when it fails."""
        self.restarts.setdefault(name, 0)
        self._tasks[name] = asyncio.create_task(self._keep(name, run), name=name)

    @property
    def running(self) -> list[str]:
        return sorted(n for n, t in self._tasks.items() if not t.done() and n not in self.down)

    def report_degraded(self, name: str, why: str) -> None:
        if name not in self.degraded:
            log.warning("%s degraded: %s", name, why)
        self.degraded[name] = why

    def report_recovered(self, name: str) -> None:
        if self.degraded.pop(name, None) is not None:
            log.warning("%s recovered", name)

    def health(self) -> dict[str, object]:
        """What /healthz shows: every task's state, and restarts so far."""
        tasks = {name: "running" for name in self._tasks}
        tasks |= {name: f"degraded: {why}" for name, why in self.degraded.items()}
        tasks |= {name: f"down: {why}" for name, why in self.down.items()}
        return {"tasks": tasks, "restarts": {n: c for n, c in self.restarts.items() if c}}

    async def stop(self, timeout_s: float = STOP_WAIT_S) -> None:
        """Cancel every task and wait for them, at most ``timeout_s``: a task stuck in its
        cleanup must not keep the process from stopping (it is named in the log)."""
        tasks = {name: task for name, task in self._tasks.items() if not task.done()}
        for task in tasks.values():
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks.values(), timeout=timeout_s)
            for name, task in tasks.items():
                if task in pending:
                    log.warning("task %s did not stop within %.0f s; left behind", name, timeout_s)
                elif not task.cancelled():
                    with contextlib.suppress(Exception):
                        task.result()
        self._tasks.clear()

    async def _keep(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            started = loop.time()
            try:
                await run()
                return  # finished its work (e.g. a job that is switched off): not a failure
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if loop.time() - started >= STABLE_S:
                    failures = 0
                delay = self.backoff_s[min(failures, len(self.backoff_s) - 1)]
                failures += 1
                self.restarts[name] += 1
                self.down[name] = f"{type(exc).__name__}: {exc}"
                if failures == 1:
                    log.error("%s failed; restarting in %.1f s", name, delay, exc_info=exc)
                else:
                    log.error(
                        "%s failed again (%d in a row: %s: %s); restarting in %.1f s",
                        name,
                        failures,
                        type(exc).__name__,
                        exc,
                        delay,
                    )
            await asyncio.sleep(delay)
            self.down.pop(name, None)


__all__ = ["Supervisor"]
