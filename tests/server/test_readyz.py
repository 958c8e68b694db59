"""/readyz: 200 only while Redis answers, the lease is held and the hub is not stopping; a 503
says why in ``reasons``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.app import create_app
from server.settings import Settings
from server.store.embedded import EmbeddedRedis
from tests.conftest import Hub, free_port, start_hub


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path / "redis", port=free_port()) as redis:
        yield redis


async def wait_for_readiness(hub: Hub, status: int) -> httpx.Response:
    """Ask /readyz until it answers ``status`` (the hub notices Redis going and coming)."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=hub.http) as http:
        while True:
            answer = await http.get("/readyz")
            if answer.status_code == status:
                return answer
            if time.monotonic() > deadline:
                raise AssertionError(f"/readyz stayed {answer.status_code}: {answer.text}")
            await asyncio.sleep(0.1)


async def test_readyz_is_503_with_a_reason_while_redis_is_stopped_and_200_when_it_is_back(
    own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    """Redis stopped: /readyz answers 503 with reasons naming redis_unreachable (and /metrics says redis_up 0); started again: 200 with no reasons, the lease held."""
    hub = start_hub(own_redis.url, tmp_path, HUB_HUB_LEASE_S="1.5")
    try:
        ready = (await wait_for_readiness(hub, 200)).json()
        assert ready["reasons"] == [] and ready["lease"] == "held" and ready["draining"] is False
        own_redis.stop()
        down = (await wait_for_readiness(hub, 503)).json()
        assert "redis_unreachable" in down["reasons"], down
        assert down["status"] == "degraded"
        async with httpx.AsyncClient(base_url=hub.http) as http:
            text = (await http.get("/metrics")).text
        assert "interview_hub_redis_up 0.0" in text
        own_redis.start()
        back = (await wait_for_readiness(hub, 200)).json()
        assert back["reasons"] == [] and back["lease"] == "held", back
    finally:
        hub.stop()


async def test_healthz_gives_its_reasons_too(hub: Hub) -> None:
    """/healthz carries reasons (empty on a 200) and neither lease nor draining, which are readiness only."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        body = (await http.get("/healthz")).json()
    assert body["reasons"] == []
    assert "lease" not in body and "draining" not in body


async def test_a_hub_that_is_stopping_is_not_ready(settings: Settings) -> None:
    """Once the app's lifespan is shutting down the hub is draining: /readyz answers 503 with the reason draining (and the lease), /metrics says draining 1."""
    app = create_app(settings.with_(asr="off"))
    async with app.router.lifespan_context(app):
        assert app.state.hub.draining is False
    assert app.state.hub.draining is True
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
            answer = await http.get("/readyz")
            metrics = await http.get("/metrics")
    finally:
        await app.state.store.close()  # the requests opened a connection after the shutdown
    assert answer.status_code == 503
    assert answer.json()["draining"] is True
    assert "draining" in answer.json()["reasons"]
    assert "interview_hub_draining 1.0" in metrics.text
