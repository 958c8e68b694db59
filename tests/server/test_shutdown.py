"""A hub asked to stop stops: a background task or a shutdown step that hangs is named in the log and left behind."""

from __future__ import annotations

import asyncio
import logging

import pytest

from server import app
from server.supervisor import Supervisor


class Stubborn:
    """A task whose cleanup hangs: it takes no cancellation until released."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.released = False
        self.task: asyncio.Task[object] | None = None

    async def run(self) -> None:
        self.task = asyncio.current_task()
        self.started.set()
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if self.released:
                    raise

    async def release(self) -> None:
        """Let it go, so the test leaves no task behind in the loop."""
        self.released = True
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def test_a_task_that_does_not_stop_is_named_and_left_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Supervisor.stop() returns after its wait even when a task swallows its cancellation, and logs that task's name."""
    supervisor = Supervisor()
    stubborn = Stubborn()
    supervisor.start("stubborn", stubborn.run)
    await stubborn.started.wait()
    with caplog.at_level(logging.WARNING, logger="interview_hub.supervisor"):
        await supervisor.stop(timeout_s=0.2)
    await stubborn.release()
    assert "task stubborn did not stop" in caplog.text


async def test_a_shutdown_step_that_hangs_is_named_and_the_shutdown_goes_on(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bounded_step() gives up on a step that does not finish (and on one that does not take its cancellation), logs it, and the next step runs."""
    monkeypatch.setattr(app, "SHUTDOWN_STEP_S", 0.2)
    stubborn = Stubborn()
    ran: list[str] = []

    async def next_step() -> None:
        ran.append("next")

    with caplog.at_level(logging.WARNING, logger="interview_hub.app"):
        await app.bounded_step("log appends", stubborn.run())
        await app.bounded_step("log checkpoints", next_step())
    await stubborn.release()
    assert "shutdown: log appends did not finish" in caplog.text
    assert ran == ["next"]
